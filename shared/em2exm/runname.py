"""Default run names, ``<model>__<data>__<config>__<hparams>``, so that runs sort and compare by name.

model: the U-Net preset and the CycleGAN generator (``light-resnet-6blocks``); data: the EM and ExM image names
(``gala-fibsem-train-to-plantseg-ovule``: file stems, or their folders' names when the two stems are the same);
config: the config file's stem; hparams: the segmentation target and the U-Net and CycleGAN iterations
(``bc-seg300-gan600``).  Inside a part every character but letters, digits and ``.`` becomes ``-``, so ``__``
only ever separates parts.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from em2exm.pipeline_config import PipelineConfig


def _part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "x"


def _path(location: str) -> PurePosixPath:
    """The path of a file, folder or URL (an HDF5 dataset suffix ``file.h5:/key`` dropped)."""
    return PurePosixPath(re.sub(r"\.(h5|hdf5|hdf):.*$", r".\1", location.split("://", 1)[-1].rstrip("/")))


def data_name(em: str, exm: str) -> str:
    """``<em>-to-<exm>``: each image's file stem, or its folder's name when both stems are the same."""
    paths = [_path(em), _path(exm)]
    names = [p.stem for p in paths] if paths[0].stem != paths[1].stem else [p.parent.name or p.stem for p in paths]
    return f"{names[0]}-to-{names[1]}"


def default_name(config: PipelineConfig, config_file: str) -> str:
    """The name of a run whose config sets no ``run.name``."""
    model = f"{config.seg.preset}-{config.ccgan.netG}"
    data = data_name(config.inputs.em.image, config.inputs.exm.image)
    hparams = f"{config.seg.target}-seg{config.seg.iterations}-gan{config.ccgan.total_iterations}"
    return "__".join(_part(part) for part in (model, data, _path(config_file).stem, hparams))
