"""One output block of a simulated ExM volume from the label volume, read with just the context it needs.

expected photons = background + photons * PSF(stain) * depth attenuation * illumination, then the camera
(:mod:`em2exm.simulate.camera`).  A block reads the label voxels under its PSF taps plus the membrane test's
reach; everything is indexed globally, so blocks of any plan reproduce the whole-volume bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from em2exm.simulate import camera, optics, stain
from em2exm.simulate.grid import FWHM_PER_SIGMA, Axis, output_shape
from em2exm.simulate.options import SimulateOptions
from em2exm.tiling import Box, triple

ReadLabels = Callable[[Box], np.ndarray]


@dataclass
class Block:
    """A rendered block: uint8 image, labels on the output grid, clipped voxel counts."""

    image: np.ndarray
    labels: np.ndarray
    clipped: camera.Clipped


class Renderer:
    """Geometry and constants of one simulation; :meth:`render` computes any output box."""

    def __init__(self, options: SimulateOptions, shape: tuple[int, int, int], voxel: tuple[float, float, float]) -> None:
        self.options = options
        out_voxel = options.output_voxel()
        self.shape = output_shape(shape, voxel, out_voxel)
        fwhm = (options.psf_fwhm_axial_nm, options.psf_fwhm_lateral_nm, options.psf_fwhm_lateral_nm)
        self.axes: tuple[Axis, Axis, Axis] = triple(
            Axis(n, v, m, o, f / options.expansion_factor / FWHM_PER_SIGMA / v)
            for n, v, m, o, f in zip(shape, voxel, self.shape, out_voxel, fwhm)
        )
        self.offsets = stain.footprint(options.membrane_width_nm, voxel)
        self.reach = stain.reach(self.offsets)
        self.gain = camera.gain(options.photons, options.background)

    def read_box(self, box: Box) -> Box:
        """Label voxels that output ``box`` depends on: its PSF taps plus the membrane test's reach."""
        spans = []
        for axis, part, reach in zip(self.axes, box, self.reach):
            index, _ = axis.taps(part.start, part.stop)
            spans.append(slice(max(0, int(index.min()) - reach), min(axis.size, int(index.max()) + 1 + reach)))
        return triple(spans)

    def expected(self, labels: np.ndarray, read: Box, box: Box) -> np.ndarray:
        """Expected photons (float64) at output ``box`` from the ``labels`` read at ``read``."""
        o = self.options
        stained = stain.stain(labels, stain.membrane(labels, self.offsets), o.cytosol_level, o.seed,
                              o.instance_brightness_cv)
        signal = optics.sample(stained, tuple(s.start for s in read), self.axes, box).astype(np.float64)
        if o.depth_attenuation > 0:
            signal *= optics.depth_attenuation(self.axes[0], box[0], o.depth_attenuation, o.expansion_factor)[:, None, None]
        if o.illumination_inhomogeneity > 0:
            signal *= optics.illumination(self.axes[1], self.axes[2], box[1:], o.illumination_inhomogeneity,
                                          o.illumination_period_um, o.expansion_factor, o.seed)
        return o.background + o.photons * signal

    def render(self, read_labels: ReadLabels, box: Box) -> Block:
        """The image and labels of output ``box`` (its start a multiple of the noise tile)."""
        read = self.read_box(box)
        labels = read_labels(read)
        expected = self.expected(labels, read, box)
        image, clipped = camera.expose(expected, tuple(s.start for s in box), self.options.seed,
                                       self.options.read_noise, self.gain)
        nearest = [a.nearest(s.start, s.stop) - r.start for a, s, r in zip(self.axes, box, read)]
        return Block(image, labels[np.ix_(*nearest)], clipped)
