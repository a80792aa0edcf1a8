"""An AALR ratio estimator from a network description: the settings record and the builder.

:class:`RatioNetworkConfig` is the frozen description of the ratio classifier (the ``[network]``
table of AALR and bench config files); :func:`build_estimator` turns it, with a task's shapes,
into a :class:`~jaxsbi.ratio.RatioEstimator` (see :func:`jaxsbi.ratio.aalr`).

Example:
    >>> import jaxsbi as js
    >>> task = js.get_task("two_moons")
    >>> est = js.build_estimator(task, js.RatioNetworkConfig(hidden=(64, 64)))
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from jaxsbi.ratio.aalr import aalr

__all__ = ["RatioNetworkConfig", "build_estimator"]


@dataclasses.dataclass(frozen=True)
class RatioNetworkConfig:
    """The ratio classifier (see :func:`jaxsbi.ratio.aalr`).

    Attributes:
        embedding: "none" (x flattened into the MLP) or "cnn" (a
            :class:`jaxsbi.nn.ConvEmbedding` for image observations of shape (H, W)).
        cnn_features / embedding_dim: the CNN's channels per block and its output size.
        cnn_patch: the CNN's space-to-depth block side (2 halves the resolution of the first
            convolutions at no loss of information; much faster on CPU).
        balance: λ of balanced NRE (0: plain NRE; 100 in Delaunoy et al. 2022): trades
            sharpness for conservative, better calibrated posteriors (see
            :func:`jaxsbi.ratio.aalr`).
    """

    hidden: tuple[int, ...] = (128, 128, 128)
    activation: str = "silu"
    layer_norm: bool = False
    ensemble_size: int = 1
    num_contrastive: int = 1
    embedding: Literal["none", "cnn"] = "none"
    cnn_features: tuple[int, ...] = (16, 32, 64)
    embedding_dim: int = 64
    cnn_patch: int = 1
    balance: float = 0.0

    def __post_init__(self):
        from jaxsbi.nn import activation

        for name in ("hidden", "cnn_features"):
            bad = [w for w in getattr(self, name) if w < 1]
            if bad:
                raise ValueError(f"network.{name}: layer widths must be >= 1, got {bad}")
        for name in ("ensemble_size", "num_contrastive", "embedding_dim", "cnn_patch"):
            if getattr(self, name) < 1:
                raise ValueError(f"network.{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.balance) and self.balance >= 0.0):
            raise ValueError(f"network.balance must be a finite number >= 0, got {self.balance}")
        try:
            activation(self.activation)
        except ValueError as e:
            raise ValueError(f"network.activation: {e}") from None


def build_estimator(task, network: RatioNetworkConfig, embedding=None):
    """An AALR ratio estimator for ``task`` with the given network settings.

    Args:
        task: anything with ``theta_dim``, ``x_shape`` and ``name``, e.g. a
            :class:`~jaxsbi.tasks.Task`: θ of shape ``(theta_dim,)``, x of shape ``x_shape``.
        network: :class:`RatioNetworkConfig`.
        embedding: a flax module mapping one x of shape ``x_shape`` to features, used instead of
            flattening x (default: none, or the CNN of ``network.embedding = "cnn"``).

    Returns:
        a :class:`~jaxsbi.ratio.RatioEstimator` (see :func:`jaxsbi.ratio.aalr`):
        ``init(key, theta (n, theta_dim), x (n, *x_shape)) -> params``,
        ``loss(params, key, batch) -> ()``, ``log_ratio(params, theta (theta_dim,), x x_shape)
        -> ()``.

    Raises:
        ValueError: ``network.embedding = "cnn"`` for observations that are not images (H, W).
    """
    if embedding is None and network.embedding == "cnn":
        from jaxsbi.nn import ConvEmbedding

        if len(task.x_shape) != 2:
            raise ValueError(
                f"network.embedding = 'cnn' needs image observations (H, W); task "
                f"{task.name!r} has x of shape {task.x_shape}"
            )
        embedding = ConvEmbedding(
            features=network.cnn_features, out=network.embedding_dim, patch=network.cnn_patch
        )
    return aalr(
        task.theta_dim,
        task.x_shape,
        hidden=network.hidden,
        activation=network.activation,
        layer_norm=network.layer_norm,
        embedding=embedding,
        ensemble_size=network.ensemble_size,
        num_contrastive=network.num_contrastive,
        balance=network.balance,
    )
