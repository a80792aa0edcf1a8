"""PRISM on the dMRI family, checked against per-voxel NUTS and stepping-stone evidences.

    jaxsbi run configs/prism_dmri.toml            # trains (<= 15 min) into runs/prism_dmri
    python benchmarks/dmri_prism.py [--quick] [--run-dir runs/prism_dmri]

writes benchmarks/results/dmri_prism.json (``--quick``: dmri_prism_quick.json; ``--name N``:
dmri_prism_N.json) and figures under benchmarks/results/dmri_prism[_N]/. The longer training:
``--config configs/prism_dmri_long.toml --run-dir runs/prism_dmri_long --name long``.
The params are those of the run folder's checkpoints (``train.fit`` resumes from them; with no
checkpoint it trains there first, under the config's time budget; ``--quick`` trains a 60-s
model into runs/prism_dmri_quick).

All voxels are simulated on ONE fixed evaluation protocol in the family's protocol
distribution: 4 b0 + 22 directions at b = 1000 + 22 at b = 2000 s/mm² (electrostatic-repulsion
axes), Rician noise with SNR ~ U[20, 30], normalised by the mean noisy b0 — the voxels the
network was trained on, except that the SNR is restricted to 20–30. A family trained on one
fixed acquisition (``[family.dmri] protocol``, e.g. configs/prism_dmri_dipy.toml) is evaluated on
that acquisition instead.

1. **Model selection over the 31 models** at λ = 0.5 and λ = 1 (λ fixed; structures and θ
   from the family prior at that λ): PRISM top-1 / top-3 (beam search), top-1 of the prior
   mode, accuracy of the number of sticks, inclusion calibration (ECE over the 6 components,
   from the enumerated q(M | x, λ)), median angular error of the dominant fibre (stick 1)
   from PRISM's θ samples given the true structure (posterior-mean axis = principal
   eigenvector of E[μμᵀ], so μ ≡ −μ does not matter).
2. **Against evidences** on a small family S = {ball, ball + 1 stick, ball + 2 sticks}
   (Rician; uniform over S, which is p(M | λ = 1) restricted to S): voxels with M uniform on
   S and θ ~ p(θ | M) (SNR 20–30). Evidences by stepping-stone sampling over power posteriors
   (dmri.baseline.compare_voxel_models; NUTS per rung) give p_ev(M | x, S); PRISM's q(M | x, λ = 1)
   renormalised over S is compared by R² (over all voxel × model entries) and top-1. The
   evidence top-1 is the (estimated) Bayes-optimal ceiling for S.
3. **Parameter posteriors**: on voxels of (2), PRISM's q(θ | M_true, x) vs the NUTS posterior
   of the true model (the β = 1 rung of the evidence run): C2ST (sbibm's classifier) on
   seam-free features (active scalar entries; each axis as the 6 entries of μμᵀ), per model;
   the angular error of the dominant fibre for both.
4. **Throughput on CPU**: PRISM amortised joint sampling (structure + θ, DDIM) over a batch of
   voxels vs per-voxel NUTS (one model) and the 3-model evidence run, after compilation.

Caveat: the baseline's voxel model fits S0 ~ U(0.5, 1.5) for b0-normalised data, while the
simulator (and so PRISM) normalises by the noisy mean b0 exactly: two slightly different
models of the same data (C2ST = 0.5 is not exactly attainable).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from jaxsbi import dmri  # noqa: E402
from jaxsbi.diagnostics import c2st  # noqa: E402
from jaxsbi.dmri import prism as dp  # noqa: E402
from jaxsbi.experiments.prism import build_family  # noqa: E402
from jaxsbi.experiments.registry import load_config  # noqa: E402
from jaxsbi.experiments.run_folder import machine_info, write_json  # noqa: E402
from jaxsbi.mcmc import SamplerConfig  # noqa: E402
from jaxsbi.prism import prism_estimator  # noqa: E402
from jaxsbi.prism.evaluate import reliability  # noqa: E402
from jaxsbi.prism.families import Structure, all_structures  # noqa: E402
from jaxsbi.train import fit, online_source  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results"
SNR = (20.0, 30.0)
SUBFAMILY = (("ball",), ("ball", "stick1"), ("ball", "stick1", "stick2"))
SUB_NAMES = ("ball", "ball+1stick", "ball+2sticks")


def load_params(config, run_dir: Path, est, budget_s: float | None = None):
    """Params from the run folder's checkpoints (trains there first if it has none)."""
    import dataclasses

    train = config.train
    if budget_s is not None:
        train = dataclasses.replace(
            train, time_budget_s=budget_s, max_epochs=max(2, int(budget_s / 15))
        )
    key = jax.random.key(config.seed)
    k_init, k_val, k_fit, _ = jax.random.split(key, 4)  # as run_prism
    params = est.init(k_init)
    validation = est.simulate_batch(k_val, config.validation_size)
    source = online_source(est.simulate_batch, validation, train.batch_size, train.steps_per_epoch)
    t0 = time.perf_counter()
    params, history = fit(
        k_fit,
        est.loss,
        params,
        source,
        train,
        checkpoint_dir=run_dir / "checkpoints",
        progress=False,
        description="prism dmri",
    )
    return params, history, time.perf_counter() - t0


def simulate(family, protocol, key, structures: Structure, snr_range=SNR):
    """Voxels on ``protocol`` for the given structures (leading axis n): θ ~ p(θ | M) with the
    SNR entry replaced by U(snr_range). Returns (theta (n, d), signals (n, n_meas))."""
    i_snr = family.index("rician.snr")

    def one(k, active, noise):
        s = Structure(active, noise)
        k_t, k_s, k_y = jax.random.split(k, 3)
        theta = family.sample_theta(k_t, s)
        theta = theta.at[i_snr].set(
            jax.random.uniform(k_s, (), minval=snr_range[0], maxval=snr_range[1])
        )
        return theta, family.simulate_on(k_y, s, theta, protocol)

    n = structures.active.shape[0]
    return jax.jit(jax.vmap(one))(jax.random.split(key, n), structures.active, structures.noise)


def true_axis(family, theta):
    t = np.asarray(theta)
    u, phi = t[family.index("stick1.u")], t[family.index("stick1.phi")]
    s = math.sqrt(max(0.0, 1 - u * u))
    return np.array([s * math.cos(phi), s * math.sin(phi), u])


def r_squared(pred, ref):
    pred, ref = np.asarray(pred).ravel(), np.asarray(ref).ravel()
    return float(1.0 - np.sum((pred - ref) ** 2) / np.sum((ref - ref.mean()) ** 2))


def _train_seconds(run_dir: Path, history) -> float | None:
    """Training wall time over all runs: this call's when it trained from scratch, else the
    run folder's record (``checkpoints/train_time.json``, written by ``train.fit``)."""
    if history.resumed_from_epoch == 0:
        return history.wall_time
    record = Path(run_dir) / "checkpoints" / "train_time.json"
    return float(json.loads(record.read_text())["seconds"]) if record.is_file() else None


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small numbers everywhere")
    parser.add_argument("--config", default=str(ROOT / "configs" / "prism_dmri.toml"))
    parser.add_argument("--run-dir", default=None)
    parser.add_argument(
        "--name",
        default=None,
        help="suffix of the outputs: dmri_prism_<name>.json, dmri_prism_<name>/",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-select", type=int, default=None, help="voxels per λ in (1)")
    parser.add_argument("--num-evidence", type=int, default=None, help="voxels in (2)")
    parser.add_argument("--num-c2st", type=int, default=None, help="voxels per model in (3)")
    parser.add_argument("--rungs", type=int, default=None, help="evidence rungs (12; quick 8)")
    parser.add_argument("--warmup", type=int, default=None, help="NUTS warmup (150; quick 100)")
    args = parser.parse_args(argv)
    quick = args.quick
    n_sel = args.num_select or (60 if quick else 400)
    n_ev = args.num_evidence or (6 if quick else 60)
    n_c2st = args.num_c2st or (1 if quick else 10)
    run_dir = Path(args.run_dir or ROOT / "runs" / ("prism_dmri_quick" if quick else "prism_dmri"))
    stem = "dmri_prism" + (f"_{args.name}" if args.name else "") + ("_quick" if quick else "")
    fig_dir = OUT / stem
    fig_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "command": "python benchmarks/dmri_prism.py"
        + (" --quick" if quick else "")
        + (f" --config {args.config}" if args.config != parser.get_default("config") else "")
        + (f" --run-dir {args.run_dir}" if args.run_dir else "")
        + (f" --name {args.name}" if args.name else "")
        + "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k.startswith(("num_", "rungs", "warmup")) and v is not None
        ),
        "machine": machine_info(),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "snr_range": list(SNR),
    }

    config = load_config(args.config)
    family = build_family(config.family)
    est = prism_estimator(family, config.network)
    t0 = time.perf_counter()
    params, history, t_load = load_params(config, run_dir, est, 60.0 if quick else None)
    results["training"] = {
        "run_dir": str(run_dir),
        "config": str(Path(args.config).relative_to(ROOT))
        if Path(args.config).is_relative_to(ROOT)
        else args.config,
        "epochs_run": history.epochs_run,
        "steps": history.epochs_run * config.train.steps_per_epoch,
        "simulations": history.epochs_run * config.train.steps_per_epoch * config.train.batch_size,
        "train_wall_s_all_runs": _train_seconds(run_dir, history),
        "best_val_loss": history.best_val_loss,
        "first_val_loss": float(history.val_loss[0]) if history.epochs_run else None,
        "stop_reason": history.stop_reason,
        "load_or_train_s": t_load,
    }
    print(f"params: {history.epochs_run} epochs ({results['training']['simulations']} simulations)")

    if family.protocol is not None:  # trained on one fixed acquisition: evaluate on it
        protocol = family.protocol
        results["protocol"] = f"{config.family.dmri.protocol} (the family's fixed protocol)"
    else:
        d = config.family.dmri
        per_shell = (family.n_meas - d.num_b0) // len(d.shells)
        protocol = dp.shelled_protocol(d.num_b0, d.shells, per_shell)
        results["protocol"] = (
            f"{d.num_b0} b0 + {per_shell} x "
            + " + ".join(f"{s:g}" for s in d.shells)
            + " (repulsion axes)"
        )
    key = jax.random.key(args.seed)
    observe = jax.jit(jax.vmap(lambda s: family.observe(s, protocol)))
    bits = np.asarray(all_structures(6, family.num_noise).active)

    # ---- 1. model selection over the 31 models ------------------------------------------------
    sel = {}
    fig_cal = None
    for li, lam in enumerate((0.5, 1.0)):
        k = jax.random.fold_in(key, 100 + li)
        k_m, k_v, k_t = jax.random.split(k, 3)
        structs = jax.jit(jax.vmap(family.sample_structure, (0, None)))(
            jax.random.split(k_m, n_sel), jnp.float32(lam)
        )
        theta, signals = simulate(family, protocol, k_v, structs)
        tokens = observe(signals)
        t1 = time.perf_counter()
        best, _ = jax.jit(jax.vmap(lambda t, lam=lam: est.top_k(params, t, lam, 3)))(tokens)
        q = np.asarray(
            jax.jit(jax.vmap(lambda t, lam=lam: est.structure_probs(params, t, lam)))(tokens)
        )  # (n, 63) over all bit patterns
        t_struct = time.perf_counter() - t1
        truth = np.asarray(structs.active)
        hit = np.all(np.asarray(best.active) == truth[:, None, :], axis=-1)
        prior = np.exp(
            np.asarray(
                jax.vmap(family.structure_log_prior, (0, None))(
                    Structure(jnp.asarray(bits), jnp.zeros(len(bits), jnp.int32)), lam
                )
            )
        )
        prior_mode = bits[np.argmax(prior)]
        n_st = truth[:, 1:4].sum(1)
        n_st_pred = np.asarray(best.active)[:, 0, 1:4].sum(1)
        incl = q @ bits
        invalid = np.asarray([(b[2] > b[1]) or (b[3] > b[2]) for b in bits])  # non-nested patterns
        row = {
            "num_voxels": n_sel,
            "top1": float(hit[:, 0].mean()),
            "top3": float(hit.any(axis=1).mean()),
            "prior_mode_top1": float(np.mean(np.all(truth == prior_mode, axis=1))),
            "num_sticks_accuracy": float(np.mean(n_st == n_st_pred)),
            "num_sticks_confusion": [
                [int(np.sum((n_st == a) & (n_st_pred == b))) for b in range(4)] for a in range(4)
            ],
            "inclusion_ece": reliability(incl.ravel(), truth.ravel(), 10)["ece"],
            "inclusion_ece_per_component": {
                c: reliability(incl[:, j], truth[:, j], 10)["ece"]
                for j, c in enumerate(family.component_names)
            },
            "max_probability_on_invalid_structures": float(q[:, invalid].sum(1).max()),
            "structure_seconds": t_struct,
        }
        # dominant-fibre angular error from q(θ | M_true, x), voxels with >= 1 stick
        has = np.flatnonzero(n_st > 0)[: (20 if quick else 200)]
        if has.size:
            samples = jax.jit(
                jax.vmap(
                    lambda kk, t, a, nz: est.sample_theta(params, kk, t, Structure(a, nz), 100, 16)
                )
            )(
                jax.random.split(k_t, has.size),
                tokens[has],
                structs.active[has],
                structs.noise[has],
            )
            err = [
                dp.angular_error_deg(
                    dp.dominant_axis(family, samples[i]), true_axis(family, theta[v])
                )
                for i, v in enumerate(has)
            ]
            f1 = np.asarray(theta)[has, family.index("stick1.f")]
            row["dominant_fibre_median_error_deg"] = float(np.median(err))
            row["dominant_fibre_median_error_deg_f1_gt_0.3"] = (
                float(np.median(np.asarray(err)[f1 > 0.3])) if np.any(f1 > 0.3) else None
            )
            row["num_voxels_with_sticks"] = int(has.size)
        sel[f"{lam:g}"] = row
        print(
            f"λ = {lam:g}: top-1 {row['top1']:.3f} (prior mode {row['prior_mode_top1']:.3f}), "
            f"top-3 {row['top3']:.3f}, #sticks {row['num_sticks_accuracy']:.3f}, inclusion ECE "
            f"{row['inclusion_ece']:.3f}, dominant fibre median error "
            f"{row.get('dominant_fibre_median_error_deg', float('nan')):.1f} deg"
        )
        if lam == 1.0:
            rel = reliability(incl.ravel(), truth.ravel(), 10)
            fig_cal = Figure(figsize=(4.0, 3.8))
            ax = fig_cal.subplots()
            ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
            c = np.asarray(rel["counts"]) > 0
            ax.plot(np.asarray(rel["predicted"])[c], np.asarray(rel["observed"])[c], "o-")
            ax.set(
                xlabel="PRISM q(component present | x, λ = 1)",
                ylabel="observed frequency",
                title=f"inclusion calibration (ECE {rel['ece']:.3f})",
                xlim=(0, 1),
                ylim=(0, 1),
            )
            fig_cal.tight_layout()
    results["selection_31_models"] = sel

    # ---- 2. against stepping-stone evidences on a small family ---------------------------------
    sub = [family.structure(*c) for c in SUBFAMILY]
    sub_stack = dp.stack_structures(sub)
    k_ev = jax.random.fold_in(key, 200)
    labels = np.arange(n_ev) % len(sub)
    structs = Structure(sub_stack.active[labels], sub_stack.noise[labels])
    theta_ev, signals_ev = simulate(family, protocol, jax.random.fold_in(k_ev, 0), structs)
    tokens_ev = observe(signals_ev)
    sampler = SamplerConfig(
        kernel="nuts",
        num_chains=4,
        num_samples=100,
        num_warmup=args.warmup or (100 if quick else 150),
        max_num_doublings=6,
    )
    ev_cfg = dmri.EvidenceConfig(
        num_temperatures=args.rungs or (8 if quick else 12), sampler=sampler
    )
    models = [dmri.voxel_model(family, s, protocol) for s in sub]
    t1 = time.perf_counter()
    cmp_ = dmri.compare_voxel_models(
        jax.random.fold_in(k_ev, 1), models, np.asarray(signals_ev), config=ev_cfg, chunk_size=n_ev
    )
    t_evidence = time.perf_counter() - t1
    p_ev = np.asarray(cmp_.probabilities)
    q_sub_fn = jax.jit(
        jax.vmap(lambda t: dp.subfamily_probabilities(est, params, t, 1.0, sub_stack))
    )
    q_sub = np.asarray(q_sub_fn(tokens_ev))
    r2 = r_squared(q_sub, p_ev)
    acc_q = float(np.mean(q_sub.argmax(1) == labels))
    acc_ev = float(np.mean(p_ev.argmax(1) == labels))
    results["against_evidence"] = {
        "structures": list(SUB_NAMES),
        "num_voxels": n_ev,
        "evidence_method": f"stepping-stone, {ev_cfg.num_temperatures} NUTS rungs "
        f"(beta_k = (k/T)^(1/0.3)), {sampler.num_chains} chains x {sampler.num_warmup} warmup "
        f"+ {sampler.num_samples} draws per rung",
        "r2_prism_vs_evidence": r2,
        "mean_abs_diff": float(np.mean(np.abs(q_sub - p_ev))),
        "top1_prism": acc_q,
        "top1_evidence_bayes_ceiling": acc_ev,
        "agreement_top1": float(np.mean(q_sub.argmax(1) == p_ev.argmax(1))),
        "ss_minus_ti_median_nats": float(
            np.median(np.abs(cmp_.log_evidence - cmp_.log_evidence_ti))
        ),
        "evidence_seconds_incl_compile": t_evidence,
    }
    print(
        f"sub-family {SUB_NAMES}: R² PRISM vs evidence {r2:.3f}, top-1 PRISM {acc_q:.3f}, "
        f"evidence {acc_ev:.3f} ({n_ev} voxels, evidences {t_evidence:.0f} s)"
    )
    fig_r2 = Figure(figsize=(4.0, 3.8))
    ax = fig_r2.subplots()
    for j, nm in enumerate(SUB_NAMES):
        ax.scatter(p_ev[:, j], q_sub[:, j], s=12, label=nm, alpha=0.8)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1)
    ax.set(
        xlabel="evidence-based p(M | x) (stepping-stone, NUTS)",
        ylabel="PRISM q(M | x, λ = 1), renormalised",
        title=f"model probabilities, R² = {r2:.3f}",
        xlim=(-0.02, 1.02),
        ylim=(-0.02, 1.02),
    )
    ax.legend(fontsize=7)
    fig_r2.tight_layout()

    # ---- 3. parameter posteriors: C2ST and angular errors --------------------------------------
    c2 = {nm: [] for nm in SUB_NAMES}
    c2_no_snr = {nm: [] for nm in SUB_NAMES}
    spread = {nm: {} for nm in SUB_NAMES}
    shift = {nm: {} for nm in SUB_NAMES}
    ang_prism, ang_nuts = [], []
    k_c = jax.random.fold_in(key, 300)
    theta_q = jax.jit(
        jax.vmap(lambda kk, t, a, nz: est.sample_theta(params, kk, t, Structure(a, nz), 400, 16))
    )(jax.random.split(k_c, n_ev), tokens_ev, structs.active, structs.noise)
    theta_q = np.asarray(theta_q)
    for j, nm in enumerate(SUB_NAMES):
        for v in np.flatnonzero(labels == j)[:n_c2st]:
            ref = np.asarray(cmp_.fits[j].theta[v]).reshape(-1, family.theta_dim)
            fr = dp.axis_tensor_features(family, ref, sub[j])
            fq = dp.axis_tensor_features(family, theta_q[v], sub[j])
            c2[nm].append(float(c2st(fr, fq, seed=v)))
            # Where the difference is: per feature, PRISM's sd over NUTS's and the shift of
            # PRISM's mean in NUTS sds; and C2ST without the SNR entry (the NUTS model fits S0
            # while PRISM's simulator divides by the noisy mean b0, so SNR differs by design).
            names = dp.axis_tensor_feature_names(family, sub[j])
            sd_r, sd_q = fr.std(0) + 1e-12, fq.std(0)
            for f, name in enumerate(names):
                spread[nm].setdefault(name, []).append(float(sd_q[f] / sd_r[f]))
                shift[nm].setdefault(name, []).append(
                    float(abs(fq[:, f].mean() - fr[:, f].mean()) / sd_r[f])
                )
            keep = [f for f, name in enumerate(names) if not name.endswith(".snr")]
            c2_no_snr[nm].append(float(c2st(fr[:, keep], fq[:, keep], seed=v)))
            if j > 0:
                truth_axis = true_axis(family, theta_ev[v])
                ang_prism.append(
                    dp.angular_error_deg(dp.dominant_axis(family, theta_q[v]), truth_axis)
                )
                ang_nuts.append(dp.angular_error_deg(dp.dominant_axis(family, ref), truth_axis))
    results["theta_posteriors"] = {
        "c2st_features": "active scalar entries + 6 entries of mu mu^T per axis (seam-free)",
        "num_samples": {"prism": 400, "nuts": sampler.num_chains * sampler.num_samples},
        "c2st": {nm: v for nm, v in c2.items()},
        "c2st_median": {nm: float(np.median(v)) if v else None for nm, v in c2.items()},
        "c2st_median_without_snr": {
            nm: float(np.median(v)) if v else None for nm, v in c2_no_snr.items()
        },
        "sd_ratio_prism_over_nuts_median": {
            nm: {f: float(np.median(v)) for f, v in d.items()} for nm, d in spread.items()
        },
        "mean_shift_in_nuts_sd_median": {
            nm: {f: float(np.median(v)) for f, v in d.items()} for nm, d in shift.items()
        },
        "dominant_fibre_median_error_deg_prism": float(np.median(ang_prism)) if ang_prism else None,
        "dominant_fibre_median_error_deg_nuts": float(np.median(ang_nuts)) if ang_nuts else None,
    }
    print(
        "C2ST PRISM vs NUTS (median per model): "
        + ", ".join(f"{nm} {np.median(v):.3f}" for nm, v in c2.items() if v)
        + f"; dominant fibre median error PRISM {np.median(ang_prism):.1f} deg, NUTS "
        f"{np.median(ang_nuts):.1f} deg"
    )
    print(
        "C2ST without SNR: "
        + ", ".join(f"{nm} {np.median(v):.3f}" for nm, v in c2_no_snr.items() if v)
    )
    for nm in SUB_NAMES:
        print(
            f"  {nm}: sd ratio / mean shift (NUTS sd) "
            + ", ".join(
                f"{f} {np.median(spread[nm][f]):.2f}/{np.median(shift[nm][f]):.2f}"
                for f in spread[nm]
            )
        )

    # ---- 4. throughput -------------------------------------------------------------------------
    n_vox = 64 if quick else 512
    n_draws = 100
    sig = np.asarray(
        simulate(
            family,
            protocol,
            jax.random.fold_in(key, 400),
            Structure(
                sub_stack.active[np.arange(n_vox) % 3], sub_stack.noise[np.arange(n_vox) % 3]
            ),
        )[1]
    )

    def run_prism():
        out = dp.prism_voxels(
            est,
            params,
            jax.random.fold_in(key, 401),
            sig,
            protocol,
            lam=1.0,
            num_samples=n_draws,
            num_steps=16,
            chunk_size=n_vox,
        )
        return jax.block_until_ready(out)

    t1 = time.perf_counter()
    run_prism()
    t_first = time.perf_counter() - t1
    t1 = time.perf_counter()
    run_prism()
    t_prism = time.perf_counter() - t1
    n_nuts = 8 if quick else 24
    t1 = time.perf_counter()
    dmri.fit_voxels(
        jax.random.fold_in(key, 402), models[1], sig[:n_nuts], sampler=sampler, chunk_size=n_nuts
    )
    t_nuts_first = time.perf_counter() - t1
    t1 = time.perf_counter()
    dmri.fit_voxels(
        jax.random.fold_in(key, 403), models[1], sig[:n_nuts], sampler=sampler, chunk_size=n_nuts
    )
    t_nuts = time.perf_counter() - t1
    nuts_draws = sampler.num_chains * sampler.num_samples
    results["throughput"] = {
        "prism": {
            "voxels": n_vox,
            "joint_samples_per_voxel": n_draws,
            "ddim_steps": 16,
            "seconds_incl_compile": t_first,
            "seconds": t_prism,
            "voxels_per_s": n_vox / t_prism,
            "posterior_samples_per_s": n_vox * n_draws / t_prism,
        },
        "nuts_ball_stick": {
            "voxels": n_nuts,
            "chains": sampler.num_chains,
            "warmup": sampler.num_warmup,
            "samples_per_chain": sampler.num_samples,
            "seconds_incl_compile": t_nuts_first,
            "seconds": t_nuts,
            "voxels_per_s": n_nuts / t_nuts,
            "posterior_samples_per_s": n_nuts * nuts_draws / t_nuts,
        },
        "evidence_3_models": {
            "voxels": n_ev,
            "seconds_incl_compile": t_evidence,
            "voxels_per_s_incl_compile": n_ev / t_evidence,
        },
    }
    print(
        f"throughput: PRISM {n_vox / t_prism:.1f} voxels/s, {n_vox * n_draws / t_prism:.0f} "
        f"joint samples/s ({n_vox} voxels x {n_draws}); NUTS ball+stick {n_nuts / t_nuts:.2f} "
        f"voxels/s, {n_nuts * nuts_draws / t_nuts:.0f} samples/s; 3-model evidence "
        f"{n_ev / t_evidence:.3f} voxels/s (incl. compile)"
    )

    fig_cal.savefig(fig_dir / "calibration.png", dpi=110)
    fig_r2.savefig(fig_dir / "r2_evidence.png", dpi=110)
    results["figures"] = [str(p.relative_to(ROOT)) for p in sorted(fig_dir.glob("*.png"))]
    results["total_seconds"] = time.perf_counter() - t0
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{stem}.json"
    write_json(path, results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
