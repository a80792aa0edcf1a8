"""dMRI whole-volume maps on real data by PRISM (amortised), set beside the NUTS maps.

    jaxsbi run configs/prism_dmri_dipy.toml        # trains PRISM on small_64D's protocol
    python benchmarks/dmri_volume_prism.py [--quick] [--run-dir runs/prism_dmri_dipy]
        [--lam 0.5] [--num-samples 200] [--chunk-size 250] [--copy-figures]

writes the maps (NIfTI + PNG montages), a PRISM-vs-NUTS figure and the tractography under
benchmarks/results/dmri_volume_prism/ and the numbers to
benchmarks/results/dmri_volume_prism.json (``--quick``: ``_quick`` names, a 60-s model in
runs/prism_dmri_dipy_quick and a 3×3 block of one slice — a smoke test, not a result).
``--copy-figures`` copies the comparison figure and two maps to docs/figures/dmri/.

Data: dipy's in-vivo ``small_64D`` (10×10×10 voxels of 2 mm, 1 b0 + 64 directions at
b ≈ 1000), normalised by its b0 exactly as in benchmarks/dmri_volume.py; every voxel is mapped.
The network (configs/prism_dmri_dipy.toml) was trained on simulations of this acquisition
only, over the whole dMRI family (31 compartment models: ball, ≤ 3 sticks, zeppelin, dot).

Per voxel, sharded over the devices and streamed in chunks
(:func:`jaxsbi.dmri.prism.prism_map_samples`): the enumerated
model posterior q(M | x, λ) over the 31 models and ``--num-samples`` joint draws (M, θ), which
:mod:`jaxsbi.dmri.maps` summarises exactly as it does the NUTS mixture (number of sticks,
fractions, axes, cones of uncertainty). Also reported:

- **the complexity prior on real data**: the expected number of sticks and the MAP model
  count over the volume at λ ∈ {0, 0.5, 1} (λ = 0: one nat per parameter; λ = 1: uniform
  over the 31 models), from the enumerated probabilities — λ is chosen after training;
- **against the NUTS maps** of benchmarks/dmri_volume.py (per-voxel NUTS + stepping-stone
  evidences of ball + 1 stick and ball + 2 sticks, uniform over the two): PRISM's
  q(M | x, λ = 1) renormalised over the same two models (uniform there too) against the
  evidence-based P(2 sticks) — R², agreement on the preferred model — and the angle between
  the two methods' dominant fibres and their stick-1 fractions;
- **against DTI**: the dominant fibre vs the tensor's principal direction on voxels with
  FA > 0.5 and FA > 0.3 (the NUTS maps' figure is in dmri_volume.json);
- **throughput**: voxels/s and joint posterior samples/s of the whole-volume pass after
  compilation (compile time measured with ``jax.monitoring`` and subtracted).

Caveat: the NUTS models fit S0 ~ U(0.5, 1.5) to b0-normalised data, PRISM's simulator
normalises by the noisy b0 itself — two slightly different models of the same data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import dmri_volume as nuts_volume  # noqa: E402  (this folder; registers the compile timer)
from dmri_prism import load_params  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jaxsbi import dmri  # noqa: E402
from jaxsbi.dmri import maps as dmaps  # noqa: E402
from jaxsbi.dmri import prism as dp  # noqa: E402
from jaxsbi.experiments.prism import build_family  # noqa: E402
from jaxsbi.experiments.registry import load_config  # noqa: E402
from jaxsbi.experiments.run_folder import machine_info, write_json  # noqa: E402
from jaxsbi.prism import prism_estimator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results"
DOCS = ROOT / "docs" / "figures" / "dmri"
LAMBDAS = (0.0, 0.5, 1.0)


def _r2(pred, ref) -> float:
    pred, ref = np.asarray(pred, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    return float(1.0 - np.sum((pred - ref) ** 2) / np.sum((ref - ref.mean()) ** 2))


def _compile_s() -> float:
    return nuts_volume._compile_seconds[0]


def compare_with_nuts(vol, p2_prism, fitted, nuts_dir: Path) -> dict | None:
    """PRISM's maps against the NUTS maps written by benchmarks/dmri_volume.py."""
    if not (nuts_dir / "model_probabilities.nii.gz").is_file():
        print(f"no NUTS maps under {nuts_dir}: run benchmarks/dmri_volume.py first")
        return None
    nuts = {
        k: dmri.load_nifti(nuts_dir / f"{k}.nii.gz")[0]
        for k in ("mask", "model_probabilities", "stick1_dir", "f_stick1")
    }
    both = fitted & nuts["mask"].astype(bool)
    p2_nuts = nuts["model_probabilities"][..., 1]
    angle = dmaps.angle_between_axes(vol["stick1_dir"], nuts["stick1_dir"])
    fibre = both & (vol["f_stick1"] >= 0.1) & (nuts["f_stick1"] >= 0.1)
    out = {
        "num_voxels": int(both.sum()),
        "p_two_sticks_r2": _r2(p2_prism[both], p2_nuts[both]),
        "p_two_sticks_correlation": float(np.corrcoef(p2_prism[both], p2_nuts[both])[0, 1]),
        "same_preferred_model": float(np.mean((p2_prism[both] > 0.5) == (p2_nuts[both] > 0.5))),
        "prism_prefers_two_sticks": int(np.sum(p2_prism[both] > 0.5)),
        "nuts_prefers_two_sticks": int(np.sum(p2_nuts[both] > 0.5)),
        "stick1_angle_median_deg": float(np.median(angle[fibre])) if fibre.any() else None,
        "stick1_angle_within_15deg": float(np.mean(angle[fibre] < 15.0)) if fibre.any() else None,
        "stick1_angle_voxels": int(fibre.sum()),
        "f_stick1_correlation": float(
            np.corrcoef(vol["f_stick1"][both], nuts["f_stick1"][both])[0, 1]
        ),
        "f_stick1_mean_prism": float(vol["f_stick1"][both].mean()),
        "f_stick1_mean_nuts": float(nuts["f_stick1"][both].mean()),
    }
    print(
        f"vs NUTS ({out['num_voxels']} voxels): P(2 sticks | ball+1, ball+2) R^2 "
        f"{out['p_two_sticks_r2']:.3f} (corr {out['p_two_sticks_correlation']:.3f}), same "
        f"preferred model {100 * out['same_preferred_model']:.0f}%; stick-1 axes median "
        f"{out['stick1_angle_median_deg']} deg apart ({out['stick1_angle_voxels']} voxels with "
        f"both fractions >= 0.1); f_stick1 corr {out['f_stick1_correlation']:.3f}"
    )
    out["_maps"] = {"p2_nuts": p2_nuts, "angle": angle, "both": both, **nuts}
    return out


def comparison_figure(path: Path, vol, fa_rgb, p2_prism, nuts: dict | None, z: int, sticks):
    """Stick-1 colour maps (PRISM, NUTS, DTI) on one axial slice, E[#sticks] at three λ, and
    the P(2 sticks) scatter against the evidences."""
    fig = Figure(figsize=(13, 6.2))
    axes = fig.subplots(2, 4)

    def show(ax, img, title, **kw):
        im = ax.imshow(np.swapaxes(img, 0, 1), origin="lower", **kw)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        return im

    show(axes[0, 0], np.clip(vol["stick1_rgb"][:, :, z], 0, 1), f"PRISM stick 1 (z = {z})")
    if nuts is not None:
        m = nuts["_maps"]
        rgb = (
            np.abs(m["stick1_dir"]) * np.clip(m["f_stick1"] / m["f_stick1"].max(), 0, 1)[..., None]
        )
        show(axes[0, 1], np.clip(rgb[:, :, z], 0, 1), "NUTS stick 1 (ball+1 / ball+2 mixture)")
    show(axes[0, 2], np.clip(fa_rgb[:, :, z], 0, 1), "DTI principal direction × FA")
    ax = axes[0, 3]
    if nuts is not None:
        both = nuts["_maps"]["both"]
        ax.scatter(nuts["_maps"]["p2_nuts"][both], p2_prism[both], s=5, alpha=0.5)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_xlabel("NUTS evidences: P(2 sticks)", fontsize=8)
        ax.set_ylabel("PRISM q(2 sticks), λ = 1", fontsize=8)
        ax.set_title(f"ball+1 vs ball+2, R² = {nuts['p_two_sticks_r2']:.2f}", fontsize=9)
    for j, lam in enumerate(LAMBDAS):
        im = show(
            axes[1, j],
            sticks[lam][:, :, z],
            f"PRISM E[#sticks], λ = {lam:g}",
            vmin=0,
            vmax=3,
            cmap="viridis",
        )
    fig.colorbar(im, ax=axes[1, 2], shrink=0.8)
    ax = axes[1, 3]
    if nuts is not None:
        m = nuts["_maps"]
        sel = m["both"] & (vol["f_stick1"] >= 0.1) & (m["f_stick1"] >= 0.1)
        ax.hist(np.minimum(m["angle"][sel], 45), bins=45, range=(0, 45))
        ax.set_xlabel("angle PRISM vs NUTS stick 1 (deg, clipped at 45)", fontsize=8)
        ax.set_title(f"median {nuts['stick1_angle_median_deg'] or float('nan'):.1f}°", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60-s model, 3x3 block of a slice")
    parser.add_argument("--config", default=str(ROOT / "configs" / "prism_dmri_dipy.toml"))
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--lam", type=float, default=0.5, help="λ of the maps")
    parser.add_argument("--num-samples", type=int, default=200, help="joint draws per voxel")
    parser.add_argument("--ddim-steps", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copy-figures", action="store_true", help="to docs/figures/dmri")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    quick = args.quick
    run_dir = Path(
        args.run_dir or ROOT / "runs" / ("prism_dmri_dipy_quick" if quick else "prism_dmri_dipy")
    )
    name = "dmri_volume_prism" + ("_quick" if quick else "")
    out_dir = OUT / name

    config = load_config(args.config)
    family = build_family(config.family)
    est = prism_estimator(family, config.network)
    params, history, t_load = load_params(config, run_dir, est, 60.0 if quick else None)
    steps = history.epochs_run * config.train.steps_per_epoch
    print(f"params: {steps} steps from {run_dir} ({t_load:.1f} s)")

    data, affine, protocol = dmri.load_dipy_sample("small_64D")
    if family.protocol is None or not (
        np.allclose(family.protocol.bvals, protocol.bvals)
        and np.allclose(family.protocol.bvecs, protocol.bvecs)
    ):
        raise ValueError(
            f"{args.config} was not trained on small_64D's protocol (set [family.dmri] "
            'protocol = "dipy:small_64D")'
        )
    prep = dmri.prepare_dwi(data, protocol, None, on_invalid="mask")
    dti = dmri.map_voxels(lambda x: dmri.fit_tensor(protocol, x), prep.signals, prep.mask)
    fa = np.where(prep.mask, np.asarray(dti.fa, np.float32), 0.0).astype(np.float32)
    e1_dti = np.asarray(dti.evecs[..., :, 0], np.float32)
    z_best = int(np.argmax([(fa[:, :, z] > 0.5).sum() for z in range(fa.shape[2])]))
    mask = prep.mask.copy()
    if quick:
        block = np.zeros_like(mask)
        block[3:6, 3:6, z_best] = True
        mask &= block
    num_vox = int(mask.sum())
    print(f"small_64D: {data.shape}, mapping {num_vox} voxels at λ = {args.lam:g}")

    # ---- PRISM over the volume: joint draws, then model probabilities (sharded passes) ----
    key = jax.random.key(args.seed)
    c0, t0 = _compile_s(), time.perf_counter()
    r = dp.prism_map_samples(
        est,
        params,
        key,
        prep.signals,
        protocol,
        lam=args.lam,
        num_samples=args.num_samples,
        num_steps=args.ddim_steps,
        mask=mask,
        chunk_size=args.chunk_size,
    )
    wall = time.perf_counter() - t0
    compile_s = _compile_s() - c0
    run_s = max(wall - compile_s, 1e-9)
    vps = num_vox / run_s
    print(
        f"PRISM: {wall:.1f} s wall, {compile_s:.1f} s compiling -> {vps:.2f} voxels/s, "
        f"{vps * args.num_samples:.0f} joint samples/s; whole volume "
        f"({int(prep.mask.sum())} voxels) ~ {prep.mask.sum() / vps / 60:.2f} min"
    )

    summary = dmaps.summarize(
        family, r.structures, r.probabilities, r.theta, r.model, on_invalid="mark"
    )
    vol = dmaps.volume_maps(summary, mask, probabilities=r.probabilities)
    vol["fa_dti"] = fa
    vol["dti_rgb"] = dmaps.direction_rgb(e1_dti, fa)

    # ---- the complexity prior at test time: E[#sticks] and MAP models at three λ ----
    n_sticks = np.asarray(r.structures.active)[:, 1:4].sum(1).astype(np.float32)
    names = [family.describe(s) for s in _rows(r.structures)]
    sticks, by_lambda = {}, {}
    for lam in LAMBDAS:
        pr = (
            r.probabilities
            if lam == args.lam
            else _probabilities(est, params, prep.signals, protocol, mask, lam)
        )
        e = np.zeros(mask.shape, np.float32)
        e[mask] = pr @ n_sticks
        sticks[lam] = e
        vol[f"expected_num_sticks_lam{lam:g}"] = e
        top = np.bincount(pr.argmax(1), minlength=len(names))
        by_lambda[f"{lam:g}"] = {
            "expected_num_sticks_median": float(np.median(e[mask])),
            "map_models": {names[i]: int(top[i]) for i in np.argsort(-top) if top[i]},
        }
        print(
            f"λ = {lam:g}: median E[#sticks] {np.median(e[mask]):.2f}; MAP models "
            + ", ".join(f"{names[i]} {top[i]}" for i in np.argsort(-top)[:4] if top[i])
        )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = dmaps.write_maps(out_dir, vol, affine)
    print(f"wrote {len(written)} files under {out_dir}")

    # ---- against DTI and against the NUTS maps ----
    if "stick1_dir" not in vol:  # write_maps leaves out the maps of a stick no draw has
        raise SystemExit(
            f"no voxel has a draw with a stick at λ = {args.lam:g} (an untrained or --quick "
            f"model?): nothing to compare with DTI or NUTS; maps are under {out_dir}"
        )
    fitted = vol["mask"].astype(bool)
    vs_dti = nuts_volume.orientation_vs_dti(vol["stick1_dir"], e1_dti, fitted, fa)
    two = dp.stack_structures(
        [family.structure("ball", "stick1"), family.structure("ball", "stick1", "stick2")]
    )
    p2 = dmri.map_voxels(
        lambda s: dp.subfamily_probabilities(est, params, family.observe(s, protocol), 1.0, two)[1],
        prep.signals,
        mask,
        chunk_size=args.chunk_size,
    )
    nuts = compare_with_nuts(vol, np.asarray(p2), fitted, OUT / "dmri_volume")
    comparison_figure(
        out_dir / "prism_vs_nuts.png", vol, vol["dti_rgb"], np.asarray(p2), nuts, z_best, sticks
    )
    if np.any(fitted & (vol["f_stick1"] >= 0.1)):
        tract = nuts_volume.tractography(vol, e1_dti, prep.mask, affine, out_dir, [z_best])
    else:
        tract = None
        print("tractography skipped: no voxel has a stick-1 fraction >= 0.1")
    if args.copy_figures and not quick:
        DOCS.mkdir(parents=True, exist_ok=True)
        for src, dst in (
            ("prism_vs_nuts.png", "volume_prism_vs_nuts.png"),
            ("stick1_cone.png", "volume_prism_stick1_cone.png"),
        ):
            shutil.copy(out_dir / src, DOCS / dst)

    results = {
        "command": "python benchmarks/dmri_volume_prism.py" + " ".join([""] + (argv or [])),
        "machine": machine_info(),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "data": "dipy small_64D (10x10x10, 2 mm, 1 b0 + 64 dirs at b~1000)",
        "network": {
            "config": str(Path(args.config).relative_to(ROOT))
            if Path(args.config).is_relative_to(ROOT)
            else args.config,
            "run_dir": str(run_dir),
            "training_steps": steps,
            "training_simulations": steps * config.train.batch_size,
        },
        "lam": args.lam,
        "num_voxels": num_vox,
        "num_voxels_dropped": prep.num_dropped,
        "num_voxels_failed": int(vol["failed"].sum()),
        "joint_samples_per_voxel": args.num_samples,
        "ddim_steps": args.ddim_steps,
        "chunk_size": args.chunk_size,
        "wall_seconds": wall,
        "compile_seconds": compile_s,
        "voxels_per_second": vps,
        "posterior_samples_per_second": vps * args.num_samples,
        "whole_volume_minutes": float(prep.mask.sum() / vps / 60),
        "by_lambda": by_lambda,
        "orientation_vs_dti": vs_dti,
        "vs_nuts": None if nuts is None else {k: v for k, v in nuts.items() if k != "_maps"},
        "tractography": tract,
        "total_seconds": time.perf_counter() - t_start,
        "outputs": str(out_dir.relative_to(ROOT)),
    }
    path = OUT / f"{name}.json"
    write_json(path, results)
    print(f"wrote {path}")
    return results


def _rows(structures):
    return [
        type(structures)(a, n) for a, n in zip(structures.active, structures.noise, strict=True)
    ]


def _probabilities(est, params, signals, protocol, mask, lam: float) -> np.ndarray:
    """q(M | x, λ) over the family's 31 structures for the masked voxels ``(V, 31)``."""
    family = est.family
    s = family.all_structures()
    pr = dmri.map_voxels(
        lambda x: dp.subfamily_probabilities(est, params, family.observe(x, protocol), lam, s),
        signals,
        mask,
    )
    return np.asarray(pr)[mask]


if __name__ == "__main__":
    main(sys.argv[1:])
