"""Training options for the segmentation U-Net (validated; unknown keys are errors)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Triple = tuple[int, int, int]


class AugmentConfig(BaseModel):
    """Patch augmentation switches (flips and in-plane rot90 keep labels exact)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    flip: bool = True
    rot90: bool = True
    intensity: bool = True
    elastic: bool = False
    missing_slice: bool = False


class SegTrainConfig(BaseModel):
    """How to build, train and validate the U-Net on B/C(/D) targets."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    preset: Literal["pytc", "light"] = "pytc"
    norm: Literal["bn", "gn"] = "bn"
    target: Literal["bc", "bcd"] = "bcd"
    contour_k: int = Field(1, ge=0, description="contour dilation half-width (PyTC 4-k-1)")
    distance: Literal["instance", "signed"] = "instance"
    distance_mode: Literal["2d", "3d"] = "3d"
    distance_bg: float = Field(-1.0, description="D outside instances: -1 (PyTC v1.0) or 0 (NucMM era)")
    distance_black_border: bool = False
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    patch: Triple = (17, 129, 129)
    batch: int = Field(2, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    iterations: int = Field(10000, ge=1)
    val_interval: int = Field(500, ge=1)
    val_max_patches: int = Field(16, ge=1)
    balance: bool = Field(True, description="class-ratio BCE weights (PyTC WEIGHT_OPT '1')")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA (ignored on CPU)")
    seed: int = 0
    augment: AugmentConfig = AugmentConfig()

    @field_validator("patch")
    @classmethod
    def _positive(cls, value: Triple) -> Triple:
        if min(value) < 1:
            raise ValueError("patch sizes must be >= 1")
        return value

    @field_validator("voxel_size")
    @classmethod
    def _positive_voxels(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) <= 0:
            raise ValueError("voxel sizes must be > 0")
        return value


class InferOptions(BaseModel):
    """Sliding-window inference of a trained U-Net (the ``infer`` section of seg-infer)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    window: Triple | None = Field(None, description="window (Z, Y, X); default the training patch")
    overlap: float = Field(0.5, ge=0, lt=1, description="window overlap; stride = window * (1 - overlap)")
    pad: Triple = Field((0, 0, 0), description="reflect padding per side (Z, Y, X)")
    blending: Literal["gaussian", "constant"] = "gaussian"
    sigma: float = Field(0.2, gt=0, description="Gaussian blending sigma in [-1, 1] window coordinates (PyTC)")
    tta: Literal[1, 4, 8, 16] = Field(1, description="flip test-time augmentation: 1 (off), 4, 8 or 16 variants")
    block: Triple = Field((128, 512, 512), description="block core (Z, Y, X); memory ~ 25 bytes per block voxel")
    batch_size: int = Field(2, ge=1, description="windows per forward pass (fixed: results do not depend on blocks)")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA (ignored on CPU)")
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("window", "block")
    @classmethod
    def _positive(cls, value: Triple | None) -> Triple | None:
        if value is not None and min(value) < 1:
            raise ValueError("sizes must be >= 1")
        return value

    @field_validator("pad")
    @classmethod
    def _non_negative(cls, value: Triple) -> Triple:
        if min(value) < 0:
            raise ValueError("padding must be >= 0")
        return value
