"""Diagnostics on arrays: C2ST, SBC, coverage, the ROC ratio check, MCMC convergence, plots.

Nothing here knows about estimators, tasks or samplers: every function takes arrays.
"""

from jaxsbi.diagnostics.c2st import c2st as c2st
from jaxsbi.diagnostics.c2st import c2st_sklearn as c2st_sklearn
from jaxsbi.diagnostics.coverage import central_interval_coverage as central_interval_coverage
from jaxsbi.diagnostics.coverage import expected_coverage as expected_coverage
from jaxsbi.diagnostics.mcmc import mcmc_summary as mcmc_summary
from jaxsbi.diagnostics.mcmc import mcmc_summary_batched as mcmc_summary_batched
from jaxsbi.diagnostics.plots import coverage_plot as coverage_plot
from jaxsbi.diagnostics.plots import pair_plot as pair_plot
from jaxsbi.diagnostics.plots import sbc_histogram as sbc_histogram
from jaxsbi.diagnostics.roc import RocResult as RocResult
from jaxsbi.diagnostics.roc import ratio_roc as ratio_roc
from jaxsbi.diagnostics.roc import ratio_roc_check as ratio_roc_check
from jaxsbi.diagnostics.roc import ratio_roc_draws as ratio_roc_draws
from jaxsbi.diagnostics.roc import roc_plot as roc_plot
from jaxsbi.diagnostics.roc import weighted_roc as weighted_roc
from jaxsbi.diagnostics.sbc import sbc_ranks as sbc_ranks
from jaxsbi.diagnostics.sbc import sbc_uniformity as sbc_uniformity
