import jax.numpy as jnp
import numpy as np


def ridge_data(seed=0, n=60, p=5, n_val=30, orthogonal=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    if orthogonal:
        q, _ = np.linalg.qr(x)
        x = q * np.sqrt(n)
    w = rng.normal(size=p)
    y = x @ w + 0.5 * rng.normal(size=n)
    xv = rng.normal(size=(n_val, p))
    yv = xv @ w + 0.5 * rng.normal(size=n_val)
    return x, y, xv, yv


def ridge_problem(x, y, xv, yv, inner_steps=300, inner_lr=0.5, momentum=0.0):
    """Per-feature log-precisions h; inner = ridge loss / N, outer = validation NLL (β = 1)."""
    from jaxsbi import hpo

    p = x.shape[1]
    tr = hpo.Dataset(jnp.asarray(x), jnp.asarray(y))
    va = hpo.Dataset(jnp.asarray(xv), jnp.asarray(yv))
    model = hpo.linear_model(p, 1.0, np.arange(p))
    return hpo.map_problem(
        model,
        hpo.Splits(tr, va, va),
        jnp.zeros(p),
        -5 * jnp.ones(p),
        5 * jnp.ones(p),
        inner_steps=inner_steps,
        inner_lr=inner_lr,
        momentum=momentum,
    )


def analytic_ridge_hypergradient(x, y, xv, yv, h):
    """dQ/dh of Q = mean validation NLL at w*(h) = (XᵀX + A)⁻¹Xᵀy, A = diag(e^h)."""
    a = np.exp(np.asarray(h, float))
    hm = x.T @ x + np.diag(a)
    w = np.linalg.solve(hm, x.T @ y)
    g_w = xv.T @ (xv @ w - yv) / len(yv)
    return -a * w * np.linalg.solve(hm, g_w), w


def cosine(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
