"""dMRI whole-volume maps on real data: dipy's in-vivo small_64D sample, NUTS + evidences.

    python benchmarks/dmri_volume.py [--quick] [--slices 0 1 ... 9] [--chunk-size 25]
                                     [--copy-figures] [--redraw]

writes the maps (NIfTI + PNG montages) and the tractography figures under
benchmarks/results/dmri_volume/ (``--quick``: dmri_volume_quick/, a 3×3 block of one slice,
a smoke test) and the figures to benchmarks/results/dmri_volume.json (``--quick``:
dmri_volume_quick.json). ``--copy-figures`` copies three PNGs to docs/figures/dmri/;
``--redraw`` redoes only the tractography from the written maps. The run in the docs fits
all 10 slices (``--slices 0 1 2 3 4 5 6 7 8 9``, about 20 min on the shared 2-core CPU).

Data: ``small_64D`` from dipy's wheel (10×10×10 voxels of 2 mm, 1 b0 + 64 directions at
b ≈ 1000; its NaN first b-vector is the b0 and becomes zeros). The ROI lies inside the brain,
so the mask is every voxel with finite signals and a positive b0 (all 1000); a b0 Otsu
threshold would keep only the bright (CSF-like) third. Signals are divided by the b0.

Per voxel, two models of the family (Rician noise): ball + 1 stick and ball + 2 sticks.
Each gets a stepping-stone evidence over power posteriors with NUTS
(:func:`jaxsbi.dmri.compare_voxel_models`, streamed through ``map_voxels`` in chunks); the model
probabilities weight the two posteriors into one mixture
(:func:`jaxsbi.dmri.maps.mixture_samples`), which the maps summarise. The NUTS baseline is
slow on a shared 2-core CPU, so by default only a slab is fitted (``--slices``; default:
the axial slice with the most FA > 0.5 voxels) and voxels/s after compilation
extrapolates to the whole volume. The DTI fit (:func:`jaxsbi.dmri.fit_tensor`) runs on all
voxels; the posterior dominant fibre is compared with the tensor's principal direction on
fitted voxels with FA > 0.5.

Throughput: wall time of the evidence runs minus the XLA compile time (measured with
``jax.monitoring``). "posterior samples/s" counts the kept β = 1 draws of both models
(chains × samples × 2 per voxel); "MCMC transitions/s" counts every NUTS transition (warmup
and kept, all rungs, both models).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxsbi import dmri
from jaxsbi.dmri import maps as dmaps
from jaxsbi.dmri import tractography as tr
from jaxsbi.experiments.run_folder import machine_info, write_json
from jaxsbi.mcmc import SamplerConfig

OUT = Path(__file__).parent / "results"
DOCS = Path(__file__).parent.parent / "docs" / "figures" / "dmri"

_compile_seconds = [0.0]


def _on_duration(event: str, duration: float, **kwargs) -> None:
    if event in ("/jax/core/compile/backend_compile_duration",):
        _compile_seconds[0] += duration


jax.monitoring.register_event_duration_secs_listener(_on_duration)


def tractography(vol, e1_dti, valid, affine, out_dir: Path, slices) -> dict:
    """Track through the posterior dominant fibre (and, for comparison, the DTI field) and
    draw both; returns the figures for the JSON."""
    fa = vol["fa_dti"]
    fitted = vol["mask"].astype(bool)
    track_mask = fitted & (vol["f_stick1"] >= 0.1)
    cfg = tr.TrackingConfig(step_size=0.25, max_angle=35.0, min_confidence=0.1, max_steps=400)
    seeds = tr.seeds_from_mask(track_mask)
    tracts = tr.track(
        vol["stick1_dir"], seeds, mask=track_mask, confidence=vol["f_stick1"], config=cfg
    )
    lengths = tr.streamline_lengths(tracts.streamlines, affine)
    centre = (fa.shape[0] // 2, fa.shape[1] // 2, slices[len(slices) // 2])
    slab = 1.0
    tr.plot_tracts(
        out_dir / "tract_streamlines.png",
        tracts,
        fa,
        title="streamlines through the posterior-mean dominant fibre, over DTI FA "
        f"(segments within {slab:g} voxel of each slice)",
        slices=centre,
        slab=slab,
    )
    # the same tracking through the DTI principal direction (FA > 0.2), for comparison
    dti_mask = valid & (fa > 0.2)
    dti_tracts = tr.track(
        e1_dti,
        tr.seeds_from_mask(dti_mask),
        mask=dti_mask,
        confidence=fa,
        config=dataclasses.replace(cfg, min_confidence=0.2),
    )
    tr.plot_tracts(
        out_dir / "tract_dti.png",
        dti_tracts,
        fa,
        title="DTI streamlines (FA > 0.2)",
        slices=centre,
        slab=slab,
    )
    print(
        f"tractography: {len(tracts.streamlines)} streamlines (1 seed per voxel with stick-1 "
        f"fraction >= 0.1), median length {np.median(lengths):.1f} mm, stops "
        f"{tracts.stop_counts()}; DTI: {len(dti_tracts.streamlines)} streamlines"
    )
    return {
        "seeds": "1 per voxel with f_stick1 >= 0.1",
        "config": dataclasses.asdict(cfg),
        "num_streamlines": len(tracts.streamlines),
        "median_length_mm": float(np.median(lengths)) if lengths.size else 0.0,
        "max_length_mm": float(np.max(lengths)) if lengths.size else 0.0,
        "stops": tracts.stop_counts(),
        "dti_num_streamlines": len(dti_tracts.streamlines),
        "dti_median_length_mm": float(
            np.median(tr.streamline_lengths(dti_tracts.streamlines, affine))
        ),
    }


def orientation_vs_dti(stick_dir, e1_dti, fitted, fa, thresholds=(0.5, 0.3)) -> dict:
    """The posterior dominant fibre against the tensor's principal direction on fitted voxels
    with FA above each threshold: voxel count, median angle, fraction within 15°. Voxels
    without a stick-1 axis (no posterior draw has a stick: the map holds 0) have no angle;
    they are left out and counted, not scored as 90°."""
    angle = dmaps.angle_between_axes(stick_dir, e1_dti)
    has_axis = np.linalg.norm(stick_dir, axis=-1) > 0
    agreement = {}
    for thr in thresholds:
        sel = fitted & (fa > thr)
        a = angle[sel & has_axis]
        agreement[f"fa_gt_{thr}"] = {
            "num_voxels": int(a.size),
            "num_without_stick": int((sel & ~has_axis).sum()),
            "median_angle_deg": float(np.median(a)) if a.size else None,
            "fraction_within_15deg": float(np.mean(a < 15.0)) if a.size else None,
        }
        if a.size:
            print(
                f"stick 1 vs DTI e1, FA > {thr}: {a.size} voxels, median {np.median(a):.2f} deg, "
                f"{100 * np.mean(a < 15):.0f}% within 15 deg"
            )
    return agreement


def redraw(quick: bool, copy_figures: bool) -> dict:
    """Re-run only the tractography and its figures from the maps a fit run wrote."""
    name = "dmri_volume_quick" if quick else "dmri_volume"
    out_dir, path = OUT / name, OUT / f"{name}.json"
    results = json.loads(path.read_text())
    vol = {}
    for k in ("mask", "f_stick1", "stick1_dir", "fa_dti"):
        vol[k], affine = dmri.load_nifti(out_dir / f"{k}.nii.gz")
    data, _, protocol = dmri.load_dipy_sample("small_64D")
    prep = dmri.prepare_dwi(data, protocol, None, on_invalid="mask")
    dti = dmri.map_voxels(lambda x: dmri.fit_tensor(protocol, x), prep.signals, prep.mask)
    e1_dti = np.asarray(dti.evecs[..., :, 0], np.float32)
    results["tractography"] = tractography(
        vol, e1_dti, prep.mask, affine, out_dir, results["slices"]
    )
    results["tractography_command"] = "python benchmarks/dmri_volume.py --redraw" + (
        " --quick" if quick else ""
    )
    if copy_figures and not quick:
        _copy_figures(out_dir)
    write_json(path, results)
    print(f"updated {path}")
    return results


def _copy_figures(out_dir: Path) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for src, dst in (
        ("stick1_rgb.png", "volume_stick1_rgb.png"),
        ("prob_sticks_2.png", "volume_prob_sticks_2.png"),
        ("tract_streamlines.png", "tract_streamlines.png"),
    ):
        # a 128-colour palette keeps the docs copies small (streamline plots are large)
        Image.open(out_dir / src).convert("RGB").quantize(colors=128).save(
            DOCS / dst, optimize=True
        )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 3x3 block of one slice")
    parser.add_argument("--slices", type=int, nargs="*", default=None, help="axial slices")
    parser.add_argument("--chunk-size", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copy-figures", action="store_true", help="to docs/figures/dmri")
    parser.add_argument(
        "--redraw", action="store_true", help="only redo the tractography from written maps"
    )
    args = parser.parse_args(argv)
    if args.redraw:
        return redraw(args.quick, args.copy_figures)
    t_start = time.perf_counter()

    data, affine, protocol = dmri.load_dipy_sample("small_64D")
    prep = dmri.prepare_dwi(data, protocol, None, on_invalid="mask")
    print(
        f"small_64D: {data.shape}, {int(prep.mask.sum())} valid voxels, dropped {prep.num_dropped}"
    )

    # ---- DTI on every voxel (reference orientations, FA background) ----
    dti = dmri.map_voxels(lambda x: dmri.fit_tensor(protocol, x), prep.signals, prep.mask)
    fa = np.asarray(dti.fa, np.float32)
    e1_dti = np.asarray(dti.evecs[..., :, 0], np.float32)

    # ---- the slab ----
    if args.slices:
        slices = sorted(set(args.slices))
    else:
        slices = [int(np.argmax([(fa[:, :, z] > 0.5).sum() for z in range(fa.shape[2])]))]
    mask = np.zeros(prep.mask.shape, bool)
    for z in slices:
        mask[:, :, z] = prep.mask[:, :, z]
    if args.quick:
        block = np.zeros_like(mask)
        block[3:6, 3:6, :] = True
        mask &= block
    num_vox = int(mask.sum())
    print(f"fitting axial slice(s) {slices}: {num_vox} voxels")

    family = dmri.dmri_family(protocol=protocol, noise_models=("rician",))
    structures = [
        family.structure("ball", "stick1"),
        family.structure("ball", "stick1", "stick2"),
    ]
    models = [dmri.voxel_model(family, s, protocol) for s in structures]
    sampler = SamplerConfig(
        kernel="nuts",
        num_chains=2,
        num_samples=50 if args.quick else 100,
        num_warmup=50 if args.quick else 100,
        max_num_doublings=5,
    )
    config = dmri.EvidenceConfig(
        num_temperatures=3 if args.quick else 4, sampler=sampler, num_prior_draws=500
    )
    key = jax.random.key(args.seed)
    compile_before = _compile_seconds[0]
    t0 = time.perf_counter()
    cmp_ = dmri.compare_voxel_models(
        key, models, prep.signals, mask, config=config, chunk_size=args.chunk_size
    )
    wall = time.perf_counter() - t0
    compile_s = _compile_seconds[0] - compile_before
    run_s = max(wall - compile_s, 1e-9)
    draws_per_voxel = 2 * sampler.num_chains * sampler.num_samples
    transitions_per_voxel = (
        2
        * config.num_temperatures
        * sampler.num_chains
        * (sampler.num_warmup + sampler.num_samples)
    )
    vps = num_vox / run_s
    print(
        f"evidence (2 models x {config.num_temperatures} rungs): {wall:.1f} s wall, "
        f"{compile_s:.1f} s compiling -> {vps:.3f} voxels/s, "
        f"{vps * draws_per_voxel:.1f} posterior samples/s; whole volume "
        f"({int(prep.mask.sum())} voxels) ~ {prep.mask.sum() / vps / 60:.1f} min"
    )

    # ---- summaries -> maps ----
    probs = cmp_.probabilities[mask]
    theta, model, weights = dmaps.mixture_samples(probs, [f.theta[mask] for f in cmp_.fits])
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *structures)
    summary = dmaps.summarize(family, stacked, probs, theta, model, weights, on_invalid="mark")
    vol = dmaps.volume_maps(summary, mask, probabilities=probs)
    vol["fa_dti"] = np.where(prep.mask, fa, 0.0).astype(np.float32)
    vol["dti_rgb"] = dmaps.direction_rgb(e1_dti, vol["fa_dti"])
    num_failed = int(vol["failed"].sum())
    name = "dmri_volume_quick" if args.quick else "dmri_volume"
    out_dir = OUT / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = dmaps.write_maps(out_dir, vol, affine)
    print(f"wrote {len(written)} files under {out_dir}")

    # ---- orientation agreement with DTI on high-FA voxels ----
    fitted = vol["mask"].astype(bool)
    agreement = orientation_vs_dti(vol["stick1_dir"], e1_dti, fitted, fa)
    p2 = vol["prob_sticks_2"][fitted]
    print(
        f"P(2 sticks): median {np.median(p2):.3f}, {int(np.sum(p2 > 0.5))} of {p2.size} voxels "
        "prefer 2 sticks"
    )

    # ---- tractography through the posterior-mean dominant fibre ----
    tract = tractography(vol, e1_dti, prep.mask, affine, out_dir, slices)

    if args.copy_figures and not args.quick:
        _copy_figures(out_dir)

    acc = np.concatenate([np.asarray(f.acceptance_rate)[mask].ravel() for f in cmp_.fits])
    results = {
        "command": "python benchmarks/dmri_volume.py" + " ".join([""] + (argv or [])),
        "machine": machine_info(),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "data": "dipy small_64D (10x10x10, 2 mm, 1 b0 + 64 dirs at b~1000)",
        "mask": "finite signals and b0 > 0 (the whole ROI), restricted to the fitted slices",
        "slices": slices,
        "num_voxels_fitted": int(fitted.sum()),
        "num_voxels_failed": num_failed,
        "num_voxels_in_volume_mask": int(prep.mask.sum()),
        "models": [family.describe(s) for s in structures],
        "sampler": {
            "kernel": sampler.kernel,
            "num_chains": sampler.num_chains,
            "num_warmup": sampler.num_warmup,
            "num_samples": sampler.num_samples,
            "max_num_doublings": sampler.max_num_doublings,
        },
        "num_temperatures": config.num_temperatures,
        "chunk_size": args.chunk_size,
        "evidence_wall_seconds": wall,
        "compile_seconds": compile_s,
        "voxels_per_second": vps,
        "posterior_samples_per_second": vps * draws_per_voxel,
        "mcmc_transitions_per_second": vps * transitions_per_voxel,
        "whole_volume_minutes_extrapolated": float(prep.mask.sum() / vps / 60),
        "orientation_vs_dti": agreement,
        "prob_two_sticks_median": float(np.median(p2)),
        "num_voxels_preferring_two_sticks": int(np.sum(p2 > 0.5)),
        "nuts_acceptance_median": float(np.median(acc)),
        "num_divergent": int(sum(np.asarray(f.num_divergent)[mask].sum() for f in cmp_.fits)),
        "tractography": tract,
        "total_seconds": time.perf_counter() - t_start,
        "outputs": str(out_dir.relative_to(OUT.parent.parent)),
    }
    path = OUT / f"{name}.json"
    write_json(path, results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
