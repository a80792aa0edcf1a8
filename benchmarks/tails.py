"""Observations from the tails of the prior predictive: plain NRE against truncated rounds.

    python benchmarks/tails.py                 # 2-D conjugate Gaussian, 4 observations
    python benchmarks/tails.py --rounds 3 --simulations 10000

A user's own simulator with the defaults only: prior N(0, I₂), x = θ + N(0, 0.1² I₂), so the
posterior is N(x / 1.01, 0.01/1.01 I) exactly and the prior predictive is N(0, 1.01 I). The
observations sit at prior-predictive radii ≈ 0.4, 1.8, 3.2 and 4.2 (the last two: tails that
~1 in 150 and 1 in 6,000 simulations reach). For each: C2ST against the exact posterior and
log Z (≈ 0 for a calibrated ratio) of (a) one round of AALR on ``--simulations`` prior
simulations, (b) the same with the whole budget of (c) in one round, (c) ``--rounds`` truncated
rounds (:func:`jaxsbi.sequential.truncated_posterior`), (d) one round of balanced NRE
(``RatioNetworkConfig(balance=100)``, Delaunoy et al. 2022) on ``--simulations``. Besides C2ST, each
posterior's spread and bias against the exact one: ``sd_ratio`` (draws' sd / exact sd, mean over
the two dimensions; > 1 is conservative) and ``bias_sd`` (|mean − exact mean| in exact sds).
``--only balanced`` reruns column (d) alone and merges it into an existing JSON.
Writes benchmarks/results/tails.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.diagnostics import c2st
from jaxsbi.distributions import normal
from jaxsbi.experiments.run_folder import machine_info
from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.ratio import RatioNetworkConfig, build_estimator
from jaxsbi.sequential import TruncationConfig, truncated_posterior
from jaxsbi.tasks import Task
from jaxsbi.train import TrainConfig, simulate, train_estimator

RESULTS = Path(__file__).resolve().parent / "results"
NOISE = 0.1
X_OBS = np.array([[0.3, -0.2], [1.5, 1.0], [2.5, -2.0], [3.0, 3.0]], np.float32)


def _simulator(key, theta):
    return theta + NOISE * jax.random.normal(key, theta.shape)


def conjugate_task() -> Task:
    return Task("conjugate_gaussian", normal(jnp.zeros(2), jnp.ones(2)), _simulator,
                x_shape=(2,))


def exact_posterior(x, n, seed):
    var = NOISE**2 / (1 + NOISE**2)
    return x / (1 + NOISE**2) + np.sqrt(var) * np.random.default_rng(seed).standard_normal((n, 2))


def score(theta, x, seed) -> float:
    return float(c2st(exact_posterior(x, 10_000, seed), np.asarray(theta).reshape(-1, 2)))


def spread(theta, x) -> dict:
    """sd ratio and bias (in exact sds) of posterior draws against the exact posterior."""
    th = np.asarray(theta).reshape(-1, 2)
    sd = np.sqrt(NOISE**2 / (1 + NOISE**2))
    return {"sd_ratio": float(np.mean(th.std(0) / sd)),
            "bias_sd": float(np.max(np.abs(th.mean(0) - x / (1 + NOISE**2)) / sd))}


def one_round(task, n, seed, x_obs, network=None):
    est = build_estimator(task, network or RatioNetworkConfig())
    data = simulate(jax.random.key(seed), task, n)
    params, _, _ = train_estimator(jax.random.key(seed + 1), task, est, TrainConfig(), data=data,
                                   progress=False)
    post = sample_posterior(jax.random.key(seed + 2), task.prior, est.log_ratio, params, x_obs,
                            SamplerConfig(), x_shape=task.x_shape)
    return post


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "tails.json"))
    parser.add_argument("--only", choices=["balanced"], default=None,
                        help="rerun one column and merge it into the existing --output")
    args = parser.parse_args(argv)
    task = conjugate_task()
    if args.only == "balanced":
        out = json.loads(Path(args.output).read_text())
        _balanced_column(task, args, out)
        _write(out, args.output)
        return 0
    out = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
           "machine": machine_info(), "load_avg_start": os.getloadavg()[0],
           "simulations_per_round": args.simulations, "rounds": args.rounds, "observations": []}
    radius = np.linalg.norm(X_OBS, axis=1) / np.sqrt(1 + NOISE**2)
    t0 = time.perf_counter()
    plain = one_round(task, args.simulations, args.seed, X_OBS)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    big = one_round(task, args.simulations * args.rounds, args.seed, X_OBS)
    t_big = time.perf_counter() - t0
    for i, x in enumerate(X_OBS):
        t0 = time.perf_counter()
        res = truncated_posterior(jax.random.key(args.seed + 10 + i), task,
                                  build_estimator(task, RatioNetworkConfig()), x, TrainConfig(),
                                  SamplerConfig(),
                                  TruncationConfig(num_rounds=args.rounds,
                                                   simulations_per_round=args.simulations))
        t_trunc = time.perf_counter() - t0
        row = {
            "x_obs": x.tolist(), "prior_predictive_radius": float(radius[i]),
            "c2st_one_round": score(plain.theta[i], x, i),
            "c2st_one_round_whole_budget": score(big.theta[i], x, i),
            "c2st_truncated": score(res.posterior.theta[0], x, i),
            "log_z_one_round": float(plain.info.log_normalizer[i]),
            "log_z_one_round_whole_budget": float(big.info.log_normalizer[i]),
            "truncated_rounds": [
                {"low": r.low.tolist(), "high": r.high.tolist(), "num_train": r.num_train,
                 "log_z": r.log_normalizer, "mass_outside_next_box": r.mass_outside}
                for r in res.rounds],
            "truncated_s": t_trunc,
        }
        for name, th in (("one_round", plain.theta[i]), ("one_round_whole_budget", big.theta[i]),
                         ("truncated", res.posterior.theta[0])):
            row.update({f"{k}_{name}": v for k, v in spread(th, x).items()})
        out["observations"].append(row)
        print(f"x {x} (radius {radius[i]:.1f}): C2ST one round {row['c2st_one_round']:.3f}, "
              f"whole budget {row['c2st_one_round_whole_budget']:.3f}, truncated "
              f"{row['c2st_truncated']:.3f}  (log Z {row['log_z_one_round']:.2f})", flush=True)
    out["one_round_s"], out["one_round_whole_budget_s"] = t_plain, t_big
    _balanced_column(task, args, out)
    _write(out, args.output)
    return 0


def _balanced_column(task, args, out) -> None:
    t0 = time.perf_counter()
    bal = one_round(task, args.simulations, args.seed, X_OBS, RatioNetworkConfig(balance=100.0))
    out["one_round_balanced_s"] = time.perf_counter() - t0
    out["load_avg_balanced"] = os.getloadavg()[0]
    for i, (x, row) in enumerate(zip(X_OBS, out["observations"], strict=True)):
        row["c2st_one_round_balanced"] = score(bal.theta[i], x, i)
        row["log_z_one_round_balanced"] = float(bal.info.log_normalizer[i])
        row.update({f"{k}_one_round_balanced": v for k, v in spread(bal.theta[i], x).items()})
        print(f"x {x}: balanced NRE C2ST {row['c2st_one_round_balanced']:.3f}, sd ratio "
              f"{row['sd_ratio_one_round_balanced']:.2f}, bias "
              f"{row['bias_sd_one_round_balanced']:.2f} sd  "
              f"(log Z {row['log_z_one_round_balanced']:.2f})", flush=True)


def _write(out, path) -> None:
    out["load_avg_end"] = os.getloadavg()[0]
    RESULTS.mkdir(exist_ok=True)
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
