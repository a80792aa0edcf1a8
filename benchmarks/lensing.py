"""AALR with a CNN embedding on strong-lensing images: coverage and likelihood-free HMC.

    python benchmarks/lensing.py --quick          # ~5 min on 2 CPU cores: short training
    python benchmarks/lensing.py                  # CPU budget: 32×32, ~10 min of training
    python benchmarks/lensing.py --size 64        # accelerator: 64×64 images, longer training

1. Simulator throughput (images/s, vmapped and jitted).
2. Train AALR (``jaxsbi.ratio.aalr`` + ``jaxsbi.nn.conv.ConvEmbedding``) with
   ``jaxsbi.train.fit`` on fresh simulations every step (``online_source``; ``--data fixed``
   uses a fixed budget and ``array_source``).
3. Coverage: posteriors of held-out simulated images, sampled in one batched HMC call
   (``sample_posterior``); expected coverage of the HPD regions (``expected_coverage``) and of
   per-parameter central intervals, at 50/68/90/95%.
4. Likelihood-free HMC: HMC and NUTS on the gradient of the learned log-ratio against
   random-walk Metropolis–Hastings given the same wall time (after compilation), on a few
   observations: acceptance rate, R-hat, bulk ESS and ESS per second (``mcmc_summary``).

Writes benchmarks/results/lensing.json (``lensing_64.json`` for ``--size 64``) with the machine
and PNGs under benchmarks/results/lensing[_64]/: coverage.png, examples.png (observations, the
noiseless truth and posterior-predictive images), pair_plot.png, loss.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.diagnostics import (
    central_interval_coverage,
    coverage_plot,
    expected_coverage,
    mcmc_summary,
    pair_plot,
)
from jaxsbi.diagnostics.training import loss_plot
from jaxsbi.io import machine_info, write_json
from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.nn.conv import ConvEmbedding
from jaxsbi.pipeline import online_sampler
from jaxsbi.ratio import aalr
from jaxsbi.tasks.physics.lensing import LensingConfig, lensing, lensing_simulator
from jaxsbi.train import TrainConfig, array_source, fit, online_source, simulate, split

ROOT = Path(__file__).resolve().parent
LEVELS = (0.5, 0.68, 0.9, 0.95)


def settings(quick: bool, size: int) -> dict:
    if quick:
        return dict(
            batch=128,
            steps_per_epoch=50,
            epochs=8,
            lr=1e-3,
            num_simulations=20_000,
            cov_obs=100,
            cov_chains=4,
            cov_samples=50,
            cov_warmup=100,
            mcmc_obs=3,
            mcmc_chains=8,
            mcmc_warmup=100,
            mcmc_samples=100,
        )
    if size == 32:
        return dict(
            batch=128,
            steps_per_epoch=100,
            epochs=20,
            lr=1e-3,
            num_simulations=100_000,
            cov_obs=200,
            cov_chains=8,
            cov_samples=50,
            cov_warmup=200,
            mcmc_obs=4,
            mcmc_chains=16,
            mcmc_warmup=200,
            mcmc_samples=200,
        )
    return dict(
        batch=256,
        steps_per_epoch=200,
        epochs=50,
        lr=1e-3,
        num_simulations=500_000,
        cov_obs=500,
        cov_chains=16,
        cov_samples=100,
        cov_warmup=300,
        mcmc_obs=8,
        mcmc_chains=32,
        mcmc_warmup=300,
        mcmc_samples=300,
    )


def embedding_for(size: int) -> ConvEmbedding:
    # Pool down to 4×4 feature maps: three blocks for 32×32, four for 64×64.
    features = (16, 32, 64) if size == 32 else (16, 32, 64, 64)
    return ConvEmbedding(features=features, out=64, dense=(128,))


def _timed(fn):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t0


def simulation_throughput(task, n: int = 10_000) -> dict:
    sim = jax.jit(jax.vmap(task.simulate))
    keys = jax.random.split(jax.random.key(11), n)
    theta = task.prior.sample(jax.random.key(12), (n,))
    _, first = _timed(lambda: sim(keys, theta))
    _, t = _timed(lambda: sim(keys, theta))
    return {"num_images": n, "first_call_s": first, "run_s": t, "images_per_s": n / t}




def train(key, task, est, s: dict, data_mode: str, progress: bool):
    k_val, k_init, k_fit, k_sim, k_split = jax.random.split(key, 5)
    cfg = TrainConfig(
        learning_rate=s["lr"],
        batch_size=s["batch"],
        max_epochs=s["epochs"],
        patience=s["epochs"],
        epochs_per_call=1,
        validation_repeats=2,
        steps_per_epoch=s["steps_per_epoch"],
        schedule="cosine",
    )
    info = {"data": data_mode, "batch_size": s["batch"], "max_epochs": s["epochs"]}
    if data_mode == "online":
        sampler = online_sampler(task)
        validation = sampler(k_val, 2048)
        params = est.init(k_init, validation[0], validation[1])
        source = online_source(sampler, validation, s["batch"], s["steps_per_epoch"])
    else:
        data, t_sim = _timed(lambda: simulate(k_sim, task, s["num_simulations"]))
        info.update(num_simulations=s["num_simulations"], simulate_s=t_sim)
        tr, va = split(k_split, (data.theta, data.x), 0.05)
        params = est.init(k_init, *tr)
        source = array_source(tr, va, s["batch"])
    (params, hist), wall = _timed(
        lambda: fit(
            k_fit, est.loss, params, source, cfg, progress=progress, description="train AALR"
        )
    )
    steps = hist.epochs_run * source.num_batches
    info.update(
        epochs=hist.epochs_run,
        steps=steps,
        wall_s=wall,
        images_per_s=steps * s["batch"] / wall,
        best_epoch=hist.best_epoch,
        best_val_loss=hist.best_val_loss,
        final_train_loss=float(hist.train_loss[-1]),
        # BCE of a classifier that knows nothing: 2 log 2 (joint + marginal terms).
        uninformed_loss=2 * float(np.log(2.0)),
    )
    return params, hist, info


def log_posterior_fn(task, est, params):
    def logpost(theta, x):
        return task.prior.log_prob(theta) + est.log_ratio(params, theta, x)

    # Over samples (inner, x shared: the CNN runs once per observation) and observations.
    return jax.jit(jax.vmap(lambda ts, x: jax.vmap(lambda t: logpost(t, x))(ts)))


def coverage(key, task, est, params, s: dict, out_dir: Path) -> tuple[dict, dict]:
    k_theta, k_sim, k_mcmc = jax.random.split(key, 3)
    n = s["cov_obs"]
    theta_true = task.prior.sample(k_theta, (n,))
    sim_keys = jax.random.split(k_sim, n)
    x = jax.jit(jax.vmap(task.simulate))(sim_keys, theta_true)
    cfg = SamplerConfig(
        kernel="hmc",
        num_chains=s["cov_chains"],
        num_samples=s["cov_samples"],
        num_warmup=s["cov_warmup"],
        num_init_candidates=1000,
    )
    post, wall = _timed(
        lambda: sample_posterior(
            k_mcmc, task.prior, est.log_ratio, params, x, cfg, x_shape=task.x_shape
        )
    )
    samples = post.theta.reshape(n, -1, task.theta_dim)
    logpost = log_posterior_fn(task, est, params)
    lp_samples = logpost(samples, x)
    lp_true = logpost(theta_true[:, None, :], x)[:, 0]
    levels, hpd = expected_coverage(lp_samples, lp_true)
    _, central = central_interval_coverage(theta_true, samples, levels)
    _, hpd_at = expected_coverage(lp_samples, lp_true, jnp.asarray(LEVELS))
    _, central_at = central_interval_coverage(theta_true, samples, jnp.asarray(LEVELS))
    coverage_plot(
        levels,
        np.column_stack([np.asarray(hpd), np.asarray(central)]),
        out_dir / "coverage.png",
        num_observations=n,
        labels=["HPD (joint)", *[f"{nm} central" for nm in task.labels]],
    )
    post_mean = np.asarray(jnp.mean(samples, axis=1))
    post_std = np.asarray(jnp.std(samples, axis=1))
    err = post_mean - np.asarray(theta_true)
    result = {
        "num_observations": n,
        "sampler": dataclasses.asdict(cfg),
        "sampling_wall_s_incl_compile": wall,
        "acceptance_rate_mean": float(jnp.mean(post.info.acceptance_rate)),
        "divergent_total": int(jnp.sum(post.info.num_divergent)),
        "hpd": {f"{lv:.2f}": float(c) for lv, c in zip(LEVELS, hpd_at, strict=True)},
        "central": {
            nm: {f"{lv:.2f}": float(c) for lv, c in zip(LEVELS, central_at[:, j], strict=True)}
            for j, nm in enumerate(task.labels)
        },
        "binomial_95_band_at_0.95": _binomial_band(n, 0.95),
        "posterior_mean_rmse": dict(
            zip(task.labels, np.sqrt(np.mean(err**2, 0)).tolist(), strict=True)
        ),
        "posterior_std_mean": dict(zip(task.labels, post_std.mean(0).tolist(), strict=True)),
        "prior_std": dict(
            zip(
                task.labels,
                np.asarray(
                    jnp.std(task.prior.sample(jax.random.key(0), (20_000,)), axis=0)
                ).tolist(),
                strict=True,
            )
        ),
    }
    extras = {
        "theta_true": np.asarray(theta_true),
        "x": np.asarray(x),
        "keys": sim_keys,
        "samples": np.asarray(samples),
    }
    return result, extras


def _binomial_band(n: int, level: float) -> list[float]:
    from scipy import stats

    return [
        float(stats.binom.ppf(0.025, n, level) / n),
        float(stats.binom.ppf(0.975, n, level) / n),
    ]


def _summaries(theta: np.ndarray, wall: float, info) -> dict:
    rows = [mcmc_summary(theta[i]) for i in range(theta.shape[0])]
    ess = np.array([float(r["min_ess_bulk"]) for r in rows])
    return {
        "wall_s": wall,
        "acceptance_rate": np.asarray(info.acceptance_rate).tolist(),
        "mean_leapfrog_steps": np.asarray(info.mean_num_steps).tolist(),
        "divergent": np.asarray(info.num_divergent).tolist(),
        "max_rhat": [float(r["max_rhat"]) for r in rows],
        "min_ess_bulk": ess.tolist(),
        "min_ess_tail": [float(r["min_ess_tail"]) for r in rows],
        # Effective draws (worst parameter) of all observations of the batched call per second.
        "ess_per_s": float(ess.sum() / wall),
    }


def hmc_vs_mh(key, task, est, params, x, s: dict) -> tuple[dict, dict]:
    """HMC / NUTS on the learned log-ratio's gradient vs random-walk MH at equal wall time."""
    base = SamplerConfig(
        num_chains=s["mcmc_chains"],
        num_warmup=s["mcmc_warmup"],
        num_samples=s["mcmc_samples"],
        num_init_candidates=1000,
    )

    def run(cfg):
        # First call compiles; time the second (a fresh key, same shapes).
        sample_posterior(
            jax.random.fold_in(key, 99),
            task.prior,
            est.log_ratio,
            params,
            x,
            cfg,
            x_shape=task.x_shape,
        ).theta.block_until_ready()
        post, wall = _timed(
            lambda: sample_posterior(
                key, task.prior, est.log_ratio, params, x, cfg, x_shape=task.x_shape
            )
        )
        return np.asarray(post.theta), wall, post.info

    out, draws = {}, {}
    for kernel in ("hmc", "nuts"):
        cfg = dataclasses.replace(base, kernel=kernel)
        theta, wall, info = run(cfg)
        out[kernel] = {
            **_summaries(theta, wall, info),
            "num_warmup": cfg.num_warmup,
            "num_samples": cfg.num_samples,
        }
        draws[kernel] = theta
        print(
            f"  {kernel:5s} wall {wall:6.2f} s  ESS/s {out[kernel]['ess_per_s']:8.1f}", flush=True
        )
    # Random walk: a pilot of the same length gives its cost per step; then as many steps
    # (warmup and draws scaled alike) as fit in HMC's wall time.
    pilot = dataclasses.replace(base, kernel="rwmh")
    _, t_pilot, _ = run(pilot)
    factor = max(1.0, out["hmc"]["wall_s"] / t_pilot)
    cfg = dataclasses.replace(
        pilot, num_warmup=int(base.num_warmup * factor), num_samples=int(base.num_samples * factor)
    )
    theta, wall, info = run(cfg)
    out["rwmh"] = {
        **_summaries(theta, wall, info),
        "num_warmup": cfg.num_warmup,
        "num_samples": cfg.num_samples,
        "pilot_wall_s": t_pilot,
    }
    draws["rwmh"] = theta
    print(
        f"  rwmh  wall {wall:6.2f} s  ESS/s {out['rwmh']['ess_per_s']:8.1f} "
        f"({cfg.num_warmup} warmup + {cfg.num_samples} draws)",
        flush=True,
    )
    return out, draws


def example_grid(key, task, sim, extras, path: Path, n_obs: int = 4, n_pred: int = 3) -> str:
    """Rows: observations. Columns: observed x, noiseless truth, posterior-predictive draws
    (θ from the AALR posterior, nuisance source from its prior, without noise)."""
    from matplotlib.figure import Figure

    render = jax.jit(sim.noiseless)
    fig = Figure(figsize=(2.0 * (2 + n_pred), 2.1 * n_obs))
    axes = fig.subplots(n_obs, 2 + n_pred, squeeze=False)
    rng = np.random.default_rng(0)
    for i in range(n_obs):
        truth = render(extras["keys"][i], extras["theta_true"][i])
        panels = [(extras["x"][i], "observed x"), (truth, "noiseless truth")]
        for j in range(n_pred):
            t = extras["samples"][i][rng.integers(extras["samples"].shape[1])]
            img = render(jax.random.fold_in(key, 100 * i + j), t)
            panels.append((img, "predictive θ=" + ",".join(f"{v:.2f}" for v in t)))
        vmax = float(np.max(extras["x"][i]))
        for ax, (img, title) in zip(axes[i], panels, strict=True):
            ax.imshow(np.asarray(img), origin="lower", cmap="magma", vmin=-0.3, vmax=vmax)
            ax.set_title(title, fontsize=6)
            ax.set_axis_off()
        axes[i, 0].text(
            0.02,
            0.98,
            "θ*=" + ",".join(f"{v:.2f}" for v in extras["theta_true"][i]),
            transform=axes[i, 0].transAxes,
            fontsize=6,
            color="w",
            va="top",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return str(path)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short training, 100 held-out images")
    ap.add_argument("--size", type=int, default=32, choices=(32, 64), help="image side")
    ap.add_argument("--data", default="online", choices=("online", "fixed"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    s = settings(args.quick, args.size)
    suffix = "" if args.size == 32 else f"_{args.size}"
    out_dir = ROOT / "results" / f"lensing{suffix}"
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    config = LensingConfig(size=args.size)
    task = lensing(config)
    sim = lensing_simulator(config)
    key = jax.random.key(args.seed)
    k_train, k_cov, k_mcmc, k_pred = jax.random.split(key, 4)
    result: dict = {
        "machine": machine_info(),
        "quick": args.quick,
        "size": args.size,
        "task": dataclasses.asdict(config),
        "theta_names": list(task.labels),
        "settings": s,
    }

    print(f"lensing {args.size}x{args.size}, theta = {task.labels}", flush=True)
    result["simulator"] = simulation_throughput(task)
    print(f"simulator: {result['simulator']['images_per_s']:.0f} images/s", flush=True)

    emb = embedding_for(args.size)
    est = aalr(task.theta_dim, task.x_shape, hidden=(128, 128), embedding=emb, num_contrastive=2)
    emb_fields = (
        "features",
        "out",
        "dense",
        "convs_per_block",
        "kernel_size",
        "act",
        "padding",
        "standardize",
    )
    result["network"] = {
        "embedding": {k: getattr(emb, k) for k in emb_fields},
        "hidden": [128, 128],
        "num_contrastive": 2,
    }
    params, hist, result["training"] = train(k_train, task, est, s, args.data, not args.no_progress)
    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params["net"]))
    result["network"]["num_params"] = n_params
    loss_plot(hist.train_loss, hist.val_loss, out_dir / "loss.png")
    tr = result["training"]
    print(
        f"training: {tr['steps']} steps, {tr['wall_s']:.0f} s, {tr['images_per_s']:.0f} "
        f"images/s, val loss {tr['best_val_loss']:.4f} (uninformed {tr['uninformed_loss']:.4f})",
        flush=True,
    )

    result["coverage"], extras = coverage(k_cov, task, est, params, s, out_dir)
    cov = result["coverage"]
    print(
        f"coverage on {cov['num_observations']} held-out images (HPD): "
        + ", ".join(f"{k}: {v:.3f}" for k, v in cov["hpd"].items())
        + f"; 95% binomial band at 0.95: {cov['binomial_95_band_at_0.95']}",
        flush=True,
    )
    for nm, c in cov["central"].items():
        print(f"  {nm:8s} central: " + ", ".join(f"{k}: {v:.3f}" for k, v in c.items()), flush=True)
    print(
        "  posterior-mean RMSE "
        + json.dumps(cov["posterior_mean_rmse"])
        + " vs prior std "
        + json.dumps(cov["prior_std"]),
        flush=True,
    )

    x_mcmc = jnp.asarray(extras["x"][: s["mcmc_obs"]])
    print(f"MCMC on {s['mcmc_obs']} observations x {s['mcmc_chains']} chains:", flush=True)
    result["mcmc"], draws = hmc_vs_mh(k_mcmc, task, est, params, x_mcmc, s)

    pair_plot(
        {
            "HMC": draws["hmc"][0].reshape(-1, task.theta_dim),
            "RWMH (equal wall time)": draws["rwmh"][0].reshape(-1, task.theta_dim),
        },
        out_dir / "pair_plot.png",
        labels=task.labels,
        truth=extras["theta_true"][0],
    )
    example_grid(k_pred, task, sim, extras, out_dir / "examples.png")
    result["figures"] = sorted(str(p.relative_to(ROOT)) for p in out_dir.glob("*.png"))
    result["total_wall_s"] = time.perf_counter() - t_start
    path = ROOT / "results" / f"lensing{suffix}.json"
    write_json(path, result)
    print(f"wrote {path} ({result['total_wall_s']:.0f} s)", flush=True)
    return result


if __name__ == "__main__":
    main()
