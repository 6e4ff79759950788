"""The ``simulate`` options section: optics, stain, camera and block plan of a simulated ExM volume.

Defaults and where they come from (docs/simulate_exm.md has the full table):

- optical PSF FWHM 250 nm lateral, 1000 nm axial: a conventional light microscope resolves 200-300 nm laterally
  and about 1,000 nm along z (LICONN, Tavakoli et al., Nature 2025); expansion by E divides both, so E = 4 gives
  62.5 nm lateral, close to umExM's ~60 nm on an ordinary confocal (Shin et al., bioRxiv 2024.03.07.583776);
- imaging voxel 235 x 150 x 150 nm (z, y, x): the real confocal membrane volume that stands in for ExM in the
  demo (PlantSeg ovule test data); divided by E it is the demo pipeline's common grid (58.75, 37.5, 37.5 nm);
- membrane width, cytosol level, brightness variation, photon counts, background and read noise are
  assumptions (no published figure for them is at hand), chosen to give a membrane image with visible shot noise.
"""

from __future__ import annotations

from pydantic import Field

from em2exm.config import Nanometres, StrictModel
from em2exm.tiling import triple

CONFOCAL_VOXEL_NM = (235.0, 150.0, 150.0)
"""Imaging voxel (z, y, x) in the expanded sample: the confocal voxel of the demo's ExM stand-in."""
NOISE_TILE = (16, 32, 32)
"""Output voxels per noise tile: each tile draws its noise from its own seeded generator."""


class SimulateOptions(StrictModel):
    """How an instance-label volume becomes a membrane-stained ExM-like image."""

    seed: int = Field(0, ge=0, lt=2**63, description="seed of every random draw (brightness, noise, illumination)")
    expansion_factor: float = Field(4.0, gt=0, description="physical expansion E; optical sizes are divided by it")
    psf_fwhm_lateral_nm: float = Field(
        250.0, gt=0, description="optical PSF FWHM in y and x before dividing by E (LICONN: 200-300 nm)")
    psf_fwhm_axial_nm: float = Field(
        1000.0, gt=0, description="optical PSF FWHM in z before dividing by E (LICONN: about 1,000 nm)")
    voxel_size: Nanometres | None = Field(
        None, description="output voxel (z, y, x) in pre-expansion nm; default the 235 x 150 x 150 nm confocal "
                          "voxel divided by E (58.75, 37.5, 37.5 nm at E = 4)")
    membrane_width_nm: float = Field(
        20.0, gt=0, description="width of the stained band at instance boundaries, pre-expansion nm "
                                "(assumption; at least two label voxels are stained)")
    cytosol_level: float = Field(0.1, ge=0, le=1, description="stain inside instances relative to membrane (assumption)")
    instance_brightness_cv: float = Field(
        0.2, ge=0, description="coefficient of variation of per-instance brightness, log-normal, mean 1 (assumption)")
    photons: float = Field(200.0, gt=0, description="mean photons per voxel of fully stained tissue (assumption)")
    background: float = Field(5.0, ge=0, description="mean background photons per voxel (assumption)")
    read_noise: float = Field(1.5, ge=0, description="Gaussian read noise, electrons rms (assumption: sCMOS camera)")
    depth_attenuation: float = Field(
        0.0, ge=0, description="signal loss per micrometre of depth in the expanded sample, exp(-a*depth); 0 = off")
    illumination_inhomogeneity: float = Field(
        0.0, ge=0, lt=1, description="amplitude of a slow lateral illumination field, 1 +- a; 0 = off")
    illumination_period_um: float = Field(
        100.0, gt=0, description="wavelength of the illumination field in the expanded sample, micrometres")
    block: tuple[int, int, int] = Field(
        (32, 64, 64), description=f"output voxels (z, y, x) per block, a multiple of the noise tile {NOISE_TILE}; "
                                  "memory ~ 30 bytes per label voxel under a block and its halo")

    def output_voxel(self) -> tuple[float, float, float]:
        """The output voxel size in pre-expansion nanometres."""
        if self.voxel_size is not None:
            return self.voxel_size
        return triple(v / self.expansion_factor for v in CONFOCAL_VOXEL_NM)
