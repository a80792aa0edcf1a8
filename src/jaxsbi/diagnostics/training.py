"""Training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def loss_plot(train_loss: np.ndarray, val_loss: np.ndarray, path: str | Path) -> Path:
    """Training and validation loss per epoch, with the best validation epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train_loss, val_loss = np.asarray(train_loss), np.asarray(val_loss)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = np.arange(1, len(train_loss) + 1)
    ax.plot(epochs, train_loss, label="train")
    ax.plot(epochs, val_loss, label="validation")
    if len(val_loss) and np.isfinite(val_loss).any():
        best = int(np.nanargmin(val_loss))
        ax.axvline(best + 1, color="grey", ls=":", label=f"best (epoch {best + 1})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
