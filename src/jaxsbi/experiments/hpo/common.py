"""What both HPO experiments share: the objective names and the
checks of the methods and objectives a config asks for."""

from __future__ import annotations

import logging
from typing import Literal

from jaxsbi.hpo import (
    METHODS,
)

__all__ = ["Objective"]

Objective = Literal["evidence", "laplace", "elbo", "cv", "validation"]
log = logging.getLogger("jaxsbi")


def _check_common(methods, objectives, allowed, budget):
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; choose from {list(METHODS)}")
    bad = [o for o in objectives if o not in allowed]
    if bad:
        raise ValueError(f"unknown objective(s) {bad}; choose from {list(allowed)}")
    if budget < 1:
        raise ValueError(f"budget must be positive; got {budget}")


def _table_md(rows_by_objective: dict[str, list[dict]]) -> str:
    lines = [
        "| objective | method | best Q | val loss | test loss | wall s | fits | "
        "step sensitivity (ΔQ) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for obj, rows in rows_by_objective.items():
        for r in rows:
            if "error" in r:
                lines.append(f"| {obj} | {r['method']} | error: {r['error'][:60]} | | | | | |")
                continue
            s = r.get("step_sensitivity_spread", "not run")
            s = s if isinstance(s, str) else ("n/a" if s is None else f"{s:.3g}")
            lines.append(
                f"| {obj} | {r['method']} | {r['best_q']:.4f} | {r['best_val_loss']:.4f} | "
                f"{r['best_test_loss']:.4f} | {r['wall_time_s']:.2f} | {r['num_fits']:.1f} | "
                f"{s} |"
            )
    return "\n".join(lines)
