"""dMRI MCMC baseline: per-voxel NUTS throughput and evidence-based model selection.

    python benchmarks/dmri_baseline.py [--quick]

writes benchmarks/results/dmri_baseline.json (``--quick``: dmri_baseline_quick.json).

Simulated voxels on a UK-Biobank-like protocol (5 b0 + 50 × b=1000 + 50 × b=2000), Rician noise
at SNR ~ U[20, 30], normalised by their mean noisy b0 exactly like real data. Three classes in
equal numbers, each the truth for one candidate model:

- ball:            d ~ U[0.8, 3.0] µm²/ms;
- ball + 1 stick:  f ~ U[0.3, 0.7], stick d ~ U[0.8, 2.0], ball d ~ U[0.8, 3.0];
- ball + 2 sticks: f1 ~ U[0.3, 0.5], f2 ~ U[0.2, f1], crossing angle U[45°, 90°].

For every voxel and every candidate model the log evidence is estimated by stepping-stone
sampling over 16 power posteriors (NUTS, 4 chains per rung; see jaxsbi.dmri.baseline), the
evidence-selected model is compared with the truth (top-1 accuracy, confusion matrix), and the
dominant fibre (stick 1, largest fraction) is read off the posterior under the true model and
under the selected one: the posterior mean axis is the principal eigenvector of E[μμᵀ], its
angle to the true axis is the angular error. Throughput is voxels per second after
compilation, for plain posterior sampling (ball + 1 stick) and for the 3-model evidence run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi import dmri
from jaxsbi.experiments.run_folder import machine_info, write_json
from jaxsbi.mcmc import SamplerConfig

OUT = Path(__file__).parent / "results"
MODEL_NAMES = ("ball", "ball+1stick", "ball+2sticks")


def simulate_voxels(rng: np.random.Generator, protocol, per_class: int):
    """Signals ``(3·per_class, n)``, labels, true dominant axes ``(·, 3)``."""
    signals, labels, axes = [], [], []
    b0 = np.asarray(protocol.bvals) <= 50
    for label in range(3):
        for _ in range(per_class):
            f = np.zeros(6)
            mu1 = rng.normal(size=3)
            mu1 /= np.linalg.norm(mu1)
            helper = rng.normal(size=3)
            perp = np.cross(mu1, helper)
            perp /= np.linalg.norm(perp)
            angle = np.radians(rng.uniform(45, 90))
            mu2 = np.cos(angle) * mu1 + np.sin(angle) * perp
            if label == 1:
                f[1] = rng.uniform(0.3, 0.7)
            elif label == 2:
                f[1] = rng.uniform(0.3, 0.5)
                f[2] = rng.uniform(0.2, f[1])
            f[0] = 1 - f.sum()
            tissue = dmri.Tissue(
                fractions=jnp.asarray(f, jnp.float32),
                d_ball=jnp.float32(rng.uniform(0.8, 3.0) * 1e-3),
                d_stick=jnp.float32(rng.uniform(0.8, 2.0) * 1e-3),
                stick_dirs=jnp.asarray(np.stack([mu1, mu2, mu2]), jnp.float32),
                d_par=jnp.float32(0.0),
                d_perp=jnp.float32(0.0),
                zeppelin_dir=jnp.asarray(mu1, jnp.float32),
            )
            nu = np.asarray(dmri.tissue_signal(protocol, tissue), np.float64)
            sigma = 1.0 / rng.uniform(20, 30)
            s = np.abs(
                nu + sigma * rng.normal(size=nu.shape) + 1j * sigma * rng.normal(size=nu.shape)
            )
            signals.append(s / s[b0].mean())
            labels.append(label)
            axes.append(mu1)
    return np.asarray(signals, np.float32), np.asarray(labels), np.asarray(axes)


def posterior_axis(family, theta: np.ndarray) -> np.ndarray:
    """Principal eigenvector of E[μμᵀ] of stick 1 over draws ``theta (..., theta_dim)``."""
    t = theta.reshape(-1, theta.shape[-1])
    u, phi = t[:, family.index("stick1.u")], t[:, family.index("stick1.phi")]
    s = np.sqrt(np.clip(1 - u**2, 0, None))
    mu = np.stack([s * np.cos(phi), s * np.sin(phi), u], 1)
    return np.linalg.eigh(mu.T @ mu / len(mu))[1][:, -1]


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(a @ b), 0.0, 1.0))))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 voxels per class, short chains")
    parser.add_argument("--per-class", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    per_class = args.per_class or (3 if args.quick else 20)
    sampler = SamplerConfig(
        kernel="nuts",
        num_chains=4,
        num_samples=100 if args.quick else 200,
        num_warmup=150 if args.quick else 200,
        max_num_doublings=6,
    )
    config = dmri.EvidenceConfig(num_temperatures=12 if args.quick else 16, sampler=sampler)

    protocol = dmri.uk_biobank_like()
    family = dmri.dmri_family(protocol=protocol)
    structures = [
        family.structure("ball"),
        family.structure("ball", "stick1"),
        family.structure("ball", "stick1", "stick2"),
    ]
    models = [dmri.voxel_model(family, s, protocol) for s in structures]
    rng = np.random.default_rng(args.seed)
    signals, labels, true_axes = simulate_voxels(rng, protocol, per_class)
    n_vox = len(labels)
    key = jax.random.key(args.seed)
    chunk = n_vox  # one vmapped batch (sharded over all devices)

    # ---- posterior sampling throughput (ball + 1 stick) ----
    def posterior():
        return dmri.fit_voxels(key, models[1], signals, sampler=sampler, chunk_size=chunk)

    _, t_post_first = timed(posterior)
    post, t_post = timed(posterior)
    print(
        f"NUTS posterior, ball+1 stick: {n_vox} voxels, {t_post_first:.1f} s incl. compile, "
        f"{t_post:.2f} s after -> {n_vox / t_post:.2f} voxels/s"
    )

    # ---- evidences for the 3 models ----
    def evidences():
        return dmri.compare_voxel_models(key, models, signals, config=config, chunk_size=chunk)

    _, t_ev_first = timed(evidences)
    cmp_, t_ev = timed(evidences)
    print(
        f"evidence, 3 models x {config.num_temperatures} rungs: {t_ev_first:.1f} s incl. compile, "
        f"{t_ev:.2f} s after -> {n_vox / t_ev:.3f} voxels/s (all 3 models)"
    )

    pred = np.argmax(cmp_.probabilities, axis=1)
    accuracy = float(np.mean(pred == labels))
    confusion = np.zeros((3, 3), int)
    for t, p in zip(labels, pred, strict=True):
        confusion[t, p] += 1
    err_true, err_sel = [], []
    for v in range(n_vox):
        if labels[v] == 0:
            continue
        err_true.append(
            angle_deg(posterior_axis(family, cmp_.fits[labels[v]].theta[v]), true_axes[v])
        )
        if pred[v] > 0:
            err_sel.append(
                angle_deg(posterior_axis(family, cmp_.fits[pred[v]].theta[v]), true_axes[v])
            )
    ss_ti = np.abs(cmp_.log_evidence - cmp_.log_evidence_ti)
    acc_rates = np.stack([np.asarray(f.acceptance_rate) for f in cmp_.fits])
    divergent = int(sum(np.asarray(f.num_divergent).sum() for f in cmp_.fits))
    print(f"top-1 accuracy of the evidence-selected model: {accuracy:.3f} ({n_vox} voxels)")
    print("confusion (rows truth, cols selected; ball, ball+1, ball+2):")
    print(confusion)
    print(
        f"median angular error of the dominant fibre: {np.median(err_true):.2f} deg (true model), "
        f"{np.median(err_sel):.2f} deg (selected model, {len(err_sel)} voxels)"
    )
    print(
        f"|stepping-stone - TI| median {np.median(ss_ti):.3f}, max {ss_ti.max():.3f} nats; "
        f"NUTS acceptance median {np.median(acc_rates):.3f}; divergences {divergent}"
    )

    results = {
        "command": "python benchmarks/dmri_baseline.py"
        + (" --quick" if args.quick else "")
        + (f" --per-class {args.per_class}" if args.per_class else ""),
        "machine": machine_info(),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "protocol": "uk_biobank_like (5 b0 + 50 x 1000 + 50 x 2000)",
        "num_voxels": n_vox,
        "snr_range": [20, 30],
        "models": list(MODEL_NAMES),
        "sampler": {
            "kernel": sampler.kernel,
            "num_chains": sampler.num_chains,
            "num_samples": sampler.num_samples,
            "num_warmup": sampler.num_warmup,
            "max_num_doublings": sampler.max_num_doublings,
        },
        "num_temperatures": config.num_temperatures,
        "posterior_seconds_incl_compile": t_post_first,
        "posterior_seconds": t_post,
        "posterior_voxels_per_second": n_vox / t_post,
        "evidence_seconds_incl_compile": t_ev_first,
        "evidence_seconds": t_ev,
        "evidence_voxels_per_second_all_models": n_vox / t_ev,
        "top1_accuracy": accuracy,
        "confusion": confusion,
        "median_angular_error_deg_true_model": float(np.median(err_true)),
        "median_angular_error_deg_selected_model": float(np.median(err_sel))
        if err_sel
        else math.nan,
        "ss_minus_ti_median": float(np.median(ss_ti)),
        "ss_minus_ti_max": float(ss_ti.max()),
        "acceptance_median": float(np.median(acc_rates)),
        "num_divergent": divergent,
        "posterior_acceptance_median": float(np.median(np.asarray(post.acceptance_rate))),
    }
    OUT.mkdir(exist_ok=True)
    path = OUT / ("dmri_baseline_quick.json" if args.quick else "dmri_baseline.json")
    write_json(path, results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
