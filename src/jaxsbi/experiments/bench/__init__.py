"""The sbibm benchmark grid: tasks × simulation budgets × seeds, all observations in one call.

``jaxsbi bench [CONFIG] [--quick]`` (or :func:`run_bench`) trains one AALR estimator per
(task, budget, seed) cell, samples the posteriors of all the cell's sbibm observations in ONE
compiled call, and scores each against sbibm's published reference samples with C2ST exactly as
sbibm defines it. It writes, into the output folder:

- ``cells/<task>_<budget>_seed<seed>/``: the cell's trained params (orbax checkpoints), posterior
  samples (``samples.npz``) and ``cell.json`` (wall time per stage, C2ST per observation). A cell
  whose ``cell.json`` exists is finished and skipped on a rerun: a killed run continues from the
  finished cells (and inside a cell, from its training checkpoint and its finished C2STs).
- ``results.csv``: one row per (task, budget, seed, observation).
- ``results.md``: mean ± sd C2ST per task and budget beside sbibm's published NRE and NPE means
  (:data:`PUBLISHED`), with the gap to each and whether the target (at or below NRE) is met,
  plus the wall time per stage.
- ``c2st_vs_budget.png``: C2ST against budget per task, sbibm's NRE and NPE beside ours.

Training schedule across budgets: ``train.max_epochs`` and ``train.patience`` are the values at
``reference_budget`` simulations; at a budget n they scale by ``(reference_budget / n) **
epoch_scaling`` (at least ``min_epochs``), so the number of optimiser steps grows as
``n ** (1 - epoch_scaling)``: with the default 0.5, a 100k cell gets √10 ≈ 3.2× the steps of a
10k cell (1.0 would give every budget the same steps, which left the 100k cells undertrained:
two_moons 0.619 at 10k and 0.620 at 100k). Early stopping on the validation loss still ends
training when it stops improving.
"""

from jaxsbi.experiments.bench.config import SBIBM_TASKS as SBIBM_TASKS
from jaxsbi.experiments.bench.config import BenchConfig as BenchConfig
from jaxsbi.experiments.bench.config import QuickConfig as QuickConfig
from jaxsbi.experiments.bench.grid import run_bench as run_bench
from jaxsbi.experiments.bench.grid import run_cell as run_cell
from jaxsbi.experiments.bench.grid import run_experiment as run_experiment
from jaxsbi.experiments.bench.report import PUBLISHED as PUBLISHED
from jaxsbi.experiments.bench.report import summarise as summarise
