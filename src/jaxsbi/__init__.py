"""jaxsbi: JAX-native simulation-based inference and Bayesian model selection."""

__version__ = "0.1.0"
