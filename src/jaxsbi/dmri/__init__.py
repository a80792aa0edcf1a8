"""Diffusion MRI: compartment models, protocols, noise, the PRISM model family, the MCMC
baseline with evidences, NIfTI I/O and sharded per-voxel maps.

Example:
    >>> import jax
    >>> from jaxsbi import dmri
    >>> protocol = dmri.uk_biobank_like()
    >>> family = dmri.dmri_family(protocol=protocol)
    >>> m = family.structure("ball", "stick1")
    >>> theta = family.sample_theta(jax.random.key(0), m)
    >>> family.simulate(jax.random.key(1), m, theta).shape
    (105, 7)
"""

from jaxsbi.dmri import maps as maps
from jaxsbi.dmri import prism as prism
from jaxsbi.dmri import tractography as tractography
from jaxsbi.dmri.baseline import VoxelEvidence as VoxelEvidence
from jaxsbi.dmri.baseline import VoxelModelComparison as VoxelModelComparison
from jaxsbi.dmri.baseline import VoxelPosterior as VoxelPosterior
from jaxsbi.dmri.baseline import compare_voxel_models as compare_voxel_models
from jaxsbi.dmri.baseline import evidence_voxel as evidence_voxel
from jaxsbi.dmri.baseline import fit_voxels as fit_voxels
from jaxsbi.dmri.baseline import model_probabilities as model_probabilities
from jaxsbi.dmri.baseline import sample_voxel as sample_voxel
from jaxsbi.dmri.compartments import COMPARTMENTS as COMPARTMENTS
from jaxsbi.dmri.compartments import Tissue as Tissue
from jaxsbi.dmri.compartments import angles as angles
from jaxsbi.dmri.compartments import ball as ball
from jaxsbi.dmri.compartments import dot as dot
from jaxsbi.dmri.compartments import mix as mix
from jaxsbi.dmri.compartments import orientation as orientation
from jaxsbi.dmri.compartments import orientation_from_cos as orientation_from_cos
from jaxsbi.dmri.compartments import stick as stick
from jaxsbi.dmri.compartments import tensor as tensor
from jaxsbi.dmri.compartments import tissue_signal as tissue_signal
from jaxsbi.dmri.compartments import to_hemisphere as to_hemisphere
from jaxsbi.dmri.compartments import zeppelin as zeppelin
from jaxsbi.dmri.dti import TensorFit as TensorFit
from jaxsbi.dmri.dti import fit_tensor as fit_tensor
from jaxsbi.dmri.dti import fractional_anisotropy as fractional_anisotropy
from jaxsbi.dmri.family import dmri_family as dmri_family
from jaxsbi.dmri.family_record import DmriFamily as DmriFamily
from jaxsbi.dmri.io import PreparedDWI as PreparedDWI
from jaxsbi.dmri.io import b0_mask_otsu as b0_mask_otsu
from jaxsbi.dmri.io import load_dipy_sample as load_dipy_sample
from jaxsbi.dmri.io import load_dwi as load_dwi
from jaxsbi.dmri.io import load_nifti as load_nifti
from jaxsbi.dmri.io import normalize_by_b0 as normalize_by_b0
from jaxsbi.dmri.io import prepare_dwi as prepare_dwi
from jaxsbi.dmri.io import save_map_png as save_map_png
from jaxsbi.dmri.io import save_maps as save_maps
from jaxsbi.dmri.io import save_nifti as save_nifti
from jaxsbi.dmri.maps import mixture_samples as mixture_samples
from jaxsbi.dmri.maps_volume import volume_maps as volume_maps
from jaxsbi.dmri.maps_volume import write_maps as write_maps
from jaxsbi.dmri.noise import add_gaussian_noise as add_gaussian_noise
from jaxsbi.dmri.noise import add_rician_noise as add_rician_noise
from jaxsbi.dmri.noise import gaussian_log_prob as gaussian_log_prob
from jaxsbi.dmri.noise import log_i0 as log_i0
from jaxsbi.dmri.noise import rician_log_prob as rician_log_prob
from jaxsbi.dmri.protocol import Protocol as Protocol
from jaxsbi.dmri.protocol import hcp_like as hcp_like
from jaxsbi.dmri.protocol import load_dipy_protocol as load_dipy_protocol
from jaxsbi.dmri.protocol import load_fsl as load_fsl
from jaxsbi.dmri.protocol import make_protocol as make_protocol
from jaxsbi.dmri.protocol import random_multishell as random_multishell
from jaxsbi.dmri.protocol import uk_biobank_like as uk_biobank_like
from jaxsbi.dmri.stepping_stone import EvidenceConfig as EvidenceConfig
from jaxsbi.dmri.stepping_stone import EvidenceEstimate as EvidenceEstimate
from jaxsbi.dmri.stepping_stone import power_posterior_evidence as power_posterior_evidence
from jaxsbi.dmri.tokens import make_tokens as make_tokens
from jaxsbi.dmri.tractography import TrackingConfig as TrackingConfig
from jaxsbi.dmri.tractography import track as track
from jaxsbi.dmri.volume import map_voxels as map_voxels
from jaxsbi.dmri.voxel import VoxelModel as VoxelModel
from jaxsbi.dmri.voxel import voxel_model as voxel_model
from jaxsbi.dmri.voxel_summary import VoxelSummary as VoxelSummary
