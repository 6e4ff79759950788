"""Training options for the segmentation U-Net (validated; unknown keys are errors)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from em2exm.tiling.grid import Triple


class AugmentConfig(BaseModel):
    """Patch augmentation switches (flips and in-plane rot90 keep labels exact)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    flip: bool = Field(True, description="random flips along z, y and x (image and labels alike)")
    rot90: bool = Field(True, description="random in-plane 90-degree rotations (image and labels alike)")
    intensity: bool = Field(True, description="random contrast (x 0.7..1.3), brightness (+-0.2) and gamma "
                                              "(2^-1..2^1) of the image")
    elastic: bool = Field(False, description="a smooth random in-plane deformation (up to 6 pixels), the same for "
                                             "every slice (labels by nearest neighbour)")
    missing_slice: bool = Field(False, description="blank each z slice of the image with probability 0.1")
    blur_sigma: tuple[float, float, float] = Field(
        (0.0, 0.0, 0.0), description="largest Gaussian blur sigma (Z, Y, X) in voxels; half the patches are blurred "
                                     "by a uniform fraction of it, so a model trained on sharp EM also sees the "
                                     "resolution of a light microscope. 0 = off")
    noise_std: float = Field(
        0.0, ge=0, le=1, description="largest std of additive Gaussian noise (image in [0, 1]); half the patches get "
                                     "a uniform fraction of it. 0 = off")

    @field_validator("blur_sigma")
    @classmethod
    def _non_negative(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) < 0:
            raise ValueError("blur_sigma must be >= 0")
        return value


class SegTrainConfig(BaseModel):
    """How to build, train and validate the U-Net on B/C(/D) targets."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    preset: Literal["pytc", "light"] = Field("pytc", description="U-Net size: pytc (filters 28, 36, 48, 64, 80 as "
                                                                 "PyTC's unet_3d) or light (16, 24, 32, 48, 64)")
    norm: Literal["bn", "gn"] = Field("bn", description="normalisation layers: bn (BatchNorm) or gn (GroupNorm, "
                                                        "8 groups, fewer where 8 do not divide the channels)")
    target: Literal["bc", "bcd"] = Field("bcd", description="output channels: b foreground and c instance contour, "
                                                            "plus d distance with bcd")
    contour_k: int = Field(1, ge=0, description="contour dilation half-width (PyTC 4-k-1)")
    distance: Literal["instance", "signed"] = Field(
        "instance", description="d target: instance (each instance's distance transform normalised to 0..1, "
                                "distance_bg outside) or signed (tanh(EDT(fg) / 8 - EDT(bg) / 50), PyTC's target 6)")
    distance_mode: Literal["2d", "3d"] = Field("3d", description="distance transforms per z slice (2d) or in 3D")
    distance_bg: float = Field(-1.0, description="D outside instances: -1 (PyTC v1.0) or 0 (NucMM era)")
    distance_black_border: bool = Field(False, description="instance distance: treat the patch border as background "
                                                           "(PyTC's padding=1)")
    voxel_size: tuple[float, float, float] = Field(
        (1.0, 1.0, 1.0), description="voxel size (z, y, x); only its ratios matter, for anisotropic distance "
                                     "targets; seg-train uses the dataset's unless this is set")
    patch: Triple = Field((17, 129, 129), description="training patch (z, y, x) in voxels; z = 4m + 1 and y, x = "
                                                      "16m + 1 align the U-Net grids exactly")
    batch: int = Field(2, ge=1, description="patches per training step (and per validation pass)")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (the start of the cosine schedule)")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay")
    lr_schedule: Literal["constant", "cosine"] = Field("cosine", description="constant lr, or cosine decay from lr "
                                                                            "to 0 over the iterations")
    iterations: int = Field(10000, ge=1, description="training steps")
    val_interval: int = Field(500, ge=1, description="steps between validations (loss and foreground F1), also run "
                                                     "at the end")
    val_max_patches: int = Field(16, ge=1, description="validation patches at most, spread over a regular tiling of "
                                                       "the validation volume")
    balance: bool = Field(True, description="class-ratio BCE weights (PyTC WEIGHT_OPT '1')")
    amp: bool = Field(True, description="bfloat16 autocast in training on CUDA and on CPUs with native bf16 "
                                         "(AVX512-BF16/AMX); float32 elsewhere")
    seed: int = Field(0, description="random seed of weight initialisation, patch sampling and augmentation")
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
    blending: Literal["gaussian", "constant"] = Field("gaussian", description="weighting of overlapping windows: "
                                                                             "gaussian (see sigma) or constant (plain "
                                                                             "average)")
    sigma: float = Field(0.2, gt=0, description="Gaussian blending sigma in [-1, 1] window coordinates (PyTC)")
    tta: Literal[1, 4, 8, 16] = Field(1, description="flip test-time augmentation: 1 (off), 4, 8 or 16 variants")
    block: Triple = Field((128, 512, 512), description="block core (Z, Y, X); memory ~ 25 bytes per block voxel")
    batch_size: int = Field(2, ge=1, description="windows per forward pass (fixed: results do not depend on blocks)")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA (ignored on CPU)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available, else cpu")

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
