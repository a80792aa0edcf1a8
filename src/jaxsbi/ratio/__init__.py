"""Amortized approximate likelihood-to-evidence ratio (AALR) estimators."""

from jaxsbi.ratio.aalr import RatioEstimator as RatioEstimator
from jaxsbi.ratio.aalr import Standardizer as Standardizer
from jaxsbi.ratio.aalr import aalr as aalr
from jaxsbi.ratio.aalr import bce_loss as bce_loss
from jaxsbi.ratio.network import RatioNetworkConfig as RatioNetworkConfig
from jaxsbi.ratio.network import build_estimator as build_estimator
