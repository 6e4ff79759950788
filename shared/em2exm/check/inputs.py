"""Every input opens: its shape, dtype and voxel size, and the common voxel size it is resampled to."""

from __future__ import annotations

from dataclasses import dataclass

from em2exm import intensity
from em2exm.check.probe import Header, header, spatial_shape
from em2exm.check.report import Report
from em2exm.config import IngestOptions, Inputs, VolumeSource
from em2exm.errors import UserError
from em2exm.tiling import triple

Shape = tuple[int, int, int]


@dataclass
class Volumes:
    """What the checks learned about the inputs: shapes on the common grid and raw sizes (None where unknown)."""

    em: Shape | None = None
    exm: Shape | None = None
    em_source: Header | None = None
    exm_source: Header | None = None

    def largest(self) -> Shape | None:
        """The per-axis maximum of the volumes on the common grid: what bounds any step's block."""
        shapes = [s for s in (self.em, self.exm) if s is not None]
        return tuple(max(axis) for axis in zip(*shapes)) if shapes else None


def _nm(voxel: tuple[float, ...]) -> str:
    return " x ".join(f"{v:g}" for v in voxel) + " nm"


def _cropped(shape: Shape, ingest: IngestOptions | None) -> Shape:
    if ingest is None or ingest.crop is None:
        return shape
    return triple(max(0, min(hi, s) - lo) for (lo, hi), s in zip(ingest.crop, shape))


def _open(report: Report, what: str, location: str, source: VolumeSource) -> tuple[Header | None, Shape | None]:
    """Probe one input file; report it; return its header and (z, y, x) shape."""
    try:
        found = header(location)
    except UserError as exc:
        report.error("input", UserError(f"{what}: {exc.problem}", exc.fix))
        return None, None
    shape, why = spatial_shape(found, source.subvolume, source.channel)
    if found.voxel_size and any(abs(a - b) > 0.01 * b for a, b in zip(found.voxel_size, source.voxel_size)):
        report.warn("input", f"{what} {location} declares voxel size {_nm(found.voxel_size)}; the config's "
                             f"{_nm(source.voxel_size)} is used")
    if shape is None:
        report.warn("input", f"{what} {location} is {why}")
    return found, shape


def check_source(report: Report, name: str, source: VolumeSource, common: tuple[float, float, float],
                 ingest: IngestOptions | None) -> tuple[Header | None, Shape | None]:
    """Open one volume's image and labels; report shapes and the grid it is resampled to; return the image header
    and its shape on the common grid."""
    found, shape = _open(report, f"{name} image", source.image, source)
    target = None
    if found is not None and shape is not None:
        physical = tuple(v / source.expansion_factor for v in source.voxel_size)
        target = intensity.resampled_shape(_cropped(shape, ingest), intensity.zoom_factors(physical, common))
        expansion = f" / expansion {source.expansion_factor:g}" if source.expansion_factor != 1 else ""
        grid = "kept" if target == shape else f"resampled to {target}"
        report.ok("input", f"{name} image {source.image}: {found.shape} {found.dtype}, voxel "
                           f"{_nm(source.voxel_size)}{expansion} -> common voxel {_nm(common)}: {grid}")
    if source.labels:
        labels, labels_shape = _open(report, f"{name} labels", source.labels, source)
        if labels is not None:
            report.ok("input", f"{name} labels {source.labels}: {labels.shape} {labels.dtype}")
        if shape is not None and labels_shape is not None and labels_shape != shape:
            report.fail("input", f"{name} labels {labels_shape} and image {shape} differ in shape -- fix: pass labels "
                                 "of the same volume (same z,y,x size)")
    return found, target


def check_inputs(report: Report, inputs: Inputs, common: tuple[float, float, float],
                 ingest: IngestOptions | None) -> Volumes:
    """Open every input; what they hold on the common grid (a simulated ExM volume: its labels' grid)."""
    em_header, em = check_source(report, "em", inputs.em, common, ingest)
    exm_header, exm = check_source(report, "exm", inputs.exm, common, ingest)
    return Volumes(em=em, exm=exm, em_source=em_header, exm_source=exm_header)
