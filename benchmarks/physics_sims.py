"""Physics simulators of the AALR paper: throughput and reference posteriors.

    python benchmarks/physics_sims.py            # full run
    python benchmarks/physics_sims.py --quick    # smaller ABC budget, LV in batches of 1,000

Prints and writes ``benchmarks/results/physics_sims.json`` (with the machine) and two reference
posteriors for one fixed observation each:

* ``results/mg1_reference.npz``: rejection ABC (standardised Euclidean distance, closest 0.1 %
  of 2·10⁶ prior simulations; quick: 0.5 % of 2·10⁵);
* ``results/weinberg_reference.npz``: NUTS on the exact likelihood (50 chains × 200 draws),
  checked against the 1-D grid posterior (KS test, mean, sd).

Each holds ``theta`` (samples), ``x_obs``, ``theta_true`` and the run's settings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxsbi.abc import rejection_abc
from jaxsbi.io import machine_info, write_json
from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.tasks.physics import (
    MG1_TRUE_THETA,
    WEINBERG_TRUE_THETA,
    lotka_volterra_mjp,
    mg1,
    weinberg,
)

RESULTS = Path(__file__).resolve().parent / "results"


def throughput(task, batch: int, repeats: int) -> dict:
    """sims/s of jit(vmap(simulate)) on prior draws, after compilation."""
    fn = jax.jit(lambda key, theta: jax.vmap(task.simulate)(jax.random.split(key, batch), theta))
    theta = task.prior.sample(jax.random.key(0), (batch,))
    t0 = time.perf_counter()
    x = jax.block_until_ready(fn(jax.random.key(1), theta))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in range(repeats):
        x = jax.block_until_ready(fn(jax.random.key(2 + r), theta))
    run = (time.perf_counter() - t0) / repeats
    nan_fraction = float(np.mean(~np.all(np.isfinite(np.asarray(x)), axis=1)))
    return {
        "task": task.name,
        "batch": batch,
        "first_call_s (compile + run)": round(first, 3),
        "run_s": round(run, 4),
        "sims_per_s": round(batch / run, 1),
        "nan_fraction": round(nan_fraction, 4),
    }


def mg1_reference(quick: bool) -> dict:
    task = mg1()
    theta_true = np.asarray(MG1_TRUE_THETA, np.float32)
    x_obs = np.asarray(jax.jit(task.simulate)(jax.random.key(101), jnp.asarray(theta_true)))
    n, q = (200_000, 0.005) if quick else (2_000_000, 0.001)
    t0 = time.perf_counter()
    res = rejection_abc(jax.random.key(102), task, x_obs, n, quantile=q, batch_size=10_000)
    wall = time.perf_counter() - t0
    np.savez_compressed(
        RESULTS / "mg1_reference.npz",
        theta=res.theta.astype(np.float32),
        distances=res.distances.astype(np.float32),
        x_obs=x_obs,
        theta_true=theta_true,
        epsilon=res.epsilon,
        num_simulations=res.num_simulations,
        acceptance_rate=res.acceptance_rate,
        scale=res.scale,
        parameterisation="theta = (service_min, service_range, arrival_rate)",
    )
    return {
        "num_simulations": res.num_simulations,
        "num_accepted": res.num_accepted,
        "acceptance_rate": res.acceptance_rate,
        "epsilon": res.epsilon,
        "num_invalid": res.num_invalid,
        "wall_s": round(wall, 2),
        "posterior_mean": res.theta.mean(0).tolist(),
        "posterior_sd": res.theta.std(0).tolist(),
        "theta_true": theta_true.tolist(),
        "x_obs": x_obs.tolist(),
    }


def weinberg_reference(quick: bool) -> dict:
    task = weinberg()
    theta_true = np.asarray(WEINBERG_TRUE_THETA, np.float32)
    x_obs = np.asarray(jax.jit(task.simulate)(jax.random.key(201), jnp.asarray(theta_true)))
    cfg = SamplerConfig(kernel="nuts", num_chains=50, num_samples=200, num_warmup=300)
    t0 = time.perf_counter()
    out = sample_posterior(
        jax.random.key(202),
        task.prior,
        lambda params, theta, x: task.log_likelihood(theta, x),
        None,
        x_obs,
        cfg,
    )
    samples = np.asarray(jax.block_until_ready(out.theta)).reshape(-1, 1)
    wall = time.perf_counter() - t0
    # The exact posterior on a fine grid (1-D): the NUTS samples should match it.
    grid = np.linspace(0.1, 0.4, 6001)
    loglik = jax.jit(jax.vmap(lambda t: task.log_likelihood(t[None], jnp.asarray(x_obs))))
    logp = np.asarray(loglik(jnp.asarray(grid, jnp.float32)), np.float64)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    cdf = np.cumsum(w)
    grid_mean = float(np.sum(w * grid))
    grid_sd = float(np.sqrt(np.sum(w * (grid - grid_mean) ** 2)))
    # Thin to roughly independent draws for the KS test.
    ks = stats.kstest(samples[::10, 0], lambda v: np.interp(v, grid, cdf))
    np.savez_compressed(
        RESULTS / "weinberg_reference.npz",
        theta=samples.astype(np.float32),
        x_obs=x_obs,
        theta_true=theta_true,
        beam_energy=45.0,
        num_events=1000,
        num_bins=20,
        grid=grid,
        grid_posterior=w,
    )
    return {
        "num_samples": int(samples.shape[0]),
        "wall_s (incl. compile)": round(wall, 2),
        "acceptance_rate": float(np.mean(out.info.acceptance_rate)),
        "num_divergent": int(np.sum(out.info.num_divergent)),
        "nuts_mean": float(samples.mean()),
        "nuts_sd": float(samples.std()),
        "grid_mean": grid_mean,
        "grid_sd": grid_sd,
        "ks_pvalue_vs_grid (every 10th draw)": float(ks.pvalue),
        "theta_true": theta_true.tolist(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = [
        throughput(mg1(), 10_000, 5),
        throughput(weinberg(), 10_000, 3),
        throughput(lotka_volterra_mjp(), 1_000 if args.quick else 10_000, 1),
    ]
    for r in rows:
        print(
            f"{r['task']:>20}: {r['sims_per_s']:>12,.0f} sims/s (batch {r['batch']}, "
            f"first call {r['first_call_s (compile + run)']:.1f} s, NaN {r['nan_fraction']:.1%})"
        )
    mg1_ref = mg1_reference(args.quick)
    print(
        f"M/G/1 ABC: {mg1_ref['num_accepted']} of {mg1_ref['num_simulations']:,} accepted "
        f"(eps {mg1_ref['epsilon']:.3f}, {mg1_ref['wall_s']} s); mean "
        f"{np.round(mg1_ref['posterior_mean'], 3).tolist()} vs true {mg1_ref['theta_true']}"
    )
    w_ref = weinberg_reference(args.quick)
    print(
        f"Weinberg NUTS: mean {w_ref['nuts_mean']:.4f} sd {w_ref['nuts_sd']:.4f} | grid mean "
        f"{w_ref['grid_mean']:.4f} sd {w_ref['grid_sd']:.4f} | KS p "
        f"{w_ref['ks_pvalue_vs_grid (every 10th draw)']:.3f} ({w_ref['wall_s (incl. compile)']} s)"
    )
    write_json(
        RESULTS / "physics_sims.json",
        {
            "machine": machine_info(),
            "quick": args.quick,
            "throughput": rows,
            "mg1_abc_reference": mg1_ref,
            "weinberg_nuts_reference": w_ref,
        },
    )


if __name__ == "__main__":
    main()
