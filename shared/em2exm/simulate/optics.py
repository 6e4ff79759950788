"""Optics: the PSF as separable Gaussian sampling from the label grid, depth attenuation, slow illumination.

The stain lives on the label grid (EM voxels, finer than the PSF).  Each output voxel is the PSF-weighted sum of
the stain around its centre, one axis at a time (x, then y, then z): with ``T`` taps per axis this is a Gaussian
blur evaluated only at the output centres, i.e. blur then point sampling, as a confocal samples its PSF-blurred
object.  The taps are summed in a fixed order with weights that depend on the global voxel index alone, so any
block gives the same float32 bits as the whole volume.
"""

from __future__ import annotations

import math

import numpy as np

from em2exm.simulate.grid import Axis


def sample(stain: np.ndarray, origin: tuple[int, int, int], axes: tuple[Axis, Axis, Axis],
           box: tuple[slice, slice, slice]) -> np.ndarray:
    """The PSF-blurred stain at the output voxels ``box``; ``stain`` holds label voxels from ``origin`` on."""
    data = stain
    for axis in (2, 1, 0):
        index, weights = axes[axis].taps(box[axis].start, box[axis].stop)
        index = index - origin[axis]
        shape = [1, 1, 1]
        shape[axis] = len(index)
        out = np.zeros(data.shape[:axis] + (len(index),) + data.shape[axis + 1:], np.float32)
        for t in range(index.shape[1]):
            out += np.take(data, index[:, t], axis=axis) * weights[:, t].reshape(shape)
        data = out
    return data


def depth_attenuation(axis: Axis, box: slice, per_um: float, expansion: float) -> np.ndarray:
    """exp(-a * depth) per output plane, depth in micrometres of the expanded sample from the first plane's top."""
    depth_um = (np.arange(box.start, box.stop) + 0.5) * axis.out_voxel * expansion / 1000.0
    return np.exp(-per_um * depth_um)


def illumination(ys: Axis, xs: Axis, box: tuple[slice, slice], amplitude: float, period_um: float,
                 expansion: float, seed: int) -> np.ndarray:
    """1 + amplitude * (mean of three plane waves of random direction and phase), over (y, x), range 1 +- a."""
    rng = np.random.default_rng([seed, 2])
    angles, phases = rng.uniform(0, math.pi, 3), rng.uniform(0, 2 * math.pi, 3)
    y = (np.arange(box[0].start, box[0].stop) + 0.5)[:, None] * ys.out_voxel * expansion / 1000.0
    x = (np.arange(box[1].start, box[1].stop) + 0.5)[None, :] * xs.out_voxel * expansion / 1000.0
    waves = [np.cos(2 * math.pi * (y * math.sin(a) + x * math.cos(a)) / period_um + p) for a, p in zip(angles, phases)]
    return 1.0 + amplitude * sum(waves) / len(waves)
