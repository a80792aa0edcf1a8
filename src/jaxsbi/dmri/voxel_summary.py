"""The per-voxel posterior summary record shared by the map layer.

:func:`jaxsbi.dmri.maps.summarize` fills it from posterior draws;
:func:`jaxsbi.dmri.maps_volume.volume_maps` places it into the volume.
"""

from __future__ import annotations

from typing import NamedTuple

from jax import Array

__all__ = ["VoxelSummary"]


class VoxelSummary(NamedTuple):
    """Posterior summaries of one voxel (leading ``(V,)`` when batched).

    Attributes:
        valid: ``()`` bool: every input of the voxel was finite (False: a failed fit; all
            other fields are 0).
        num_sticks_probability: ``(4,)`` P(k sticks | x), k = 0..3.
        expected_num_sticks: ``()``.
        map_model: ``()`` int32 index of the most probable structure.
        map_probability: ``()`` its probability.
        fraction_mean: ``(6,)`` posterior-mean volume fractions (``COMPARTMENTS`` order).
        fraction_sd: ``(6,)`` their posterior sd.
        stick_presence: ``(3,)`` weight of the draws whose structure has stick k.
        stick_direction: ``(3, 3)`` axis mean of stick k (rows; unit, z ≥ 0; 0 if absent).
        stick_dispersion: ``(3,)`` 1 − λ₁ of E[μμᵀ] (0: all draws on one axis).
        stick_cone: ``(3,)`` cone of uncertainty at ``level``, degrees.
    """

    valid: Array
    num_sticks_probability: Array
    expected_num_sticks: Array
    map_model: Array
    map_probability: Array
    fraction_mean: Array
    fraction_sd: Array
    stick_presence: Array
    stick_direction: Array
    stick_dispersion: Array
    stick_cone: Array
