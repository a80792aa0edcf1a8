"""Experiments: config files in, run folders out — the layer above the library.

Each module holds one kind of experiment (its frozen config dataclasses, their validation, the
run function writing metrics, samples and figures into a run folder): :mod:`~.aalr` (AALR end to
end), :mod:`~.bench` (the sbibm grid), :mod:`~.prism`, :mod:`~.evidence`, :mod:`~.hpo`.
:mod:`~.config` maps TOML onto dataclasses, :mod:`~.run_folder` binds a folder to its config,
:mod:`~.registry` lists the kinds ``jaxsbi run`` knows. The library packages below never import
this one.
"""
