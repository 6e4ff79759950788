"""CCGAN options: training (the reference CycleGAN defaults plus segmentation heads) and transfer (unknown keys are errors)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SegTarget = Literal["b", "bc", "bcd"]
Device = Literal["auto", "cpu", "cuda"]

DEFAULT_PATCH: dict[int, tuple[int, ...]] = {2: (128, 128), 3: (17, 65, 65)}


class CCGANConfig(BaseModel):
    """One CycleGAN (EM = domain A -> ExM = domain B) with optional segmentation heads.

    Defaults are those of junyanz/pytorch-CycleGAN-and-pix2pix (``--model cycle_gan``): resnet_9blocks,
    PatchGAN with 3 layers, instance norm, LSGAN, lambda_A = lambda_B = 10, identity 0.5, pool of 50,
    Adam(2e-4, beta1 0.5), 100 + 100 epochs with linear decay, N(0, 0.02) init. An "epoch" here is
    ``iters_per_epoch`` iterations of random patches.

    Segmentation (CySGAN reading): with ``seg_head`` both generators get a head predicting ``seg_target``
    channels (b: foreground ``label > 0``; c: instance contour; d: normalised instance distance). G_A's head is
    supervised on G_A(A), G_B's head on G_B(G_A(A)), both against A's labels, weighted by ``seg_match_weight``.
    The optional CySGAN terms act on real ExM B: ``seg_consistency_weight`` is the L1 between G_B's segmentation
    of B and G_A's segmentation of G_B(B), ``seg_discriminator`` a PatchGAN telling A's label maps from those two
    predictions. ``detach_seg_adv`` / ``detach_seg_consistency`` let those terms reach G_A only (CySGAN's
    ``detach_advers`` / ``detach_pcycle``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dims: Literal[2, 3] = Field(2, description="2: train 2D networks on single z slices; 3: 3D networks on "
                                               "sub-volumes")
    netG: Literal["resnet_9blocks", "resnet_6blocks", "unet_3d"] = Field(  # noqa: N815 (reference name)
        "resnet_9blocks", description="generator: ResNet with 9 or 6 residual blocks (2D or 3D), or unet_3d, a "
                                      "PyTC-style residual 3D U-Net (dims 3 only)")
    netD: Literal["basic", "n_layers"] = Field(  # noqa: N815 (reference name)
        "basic", description="discriminator: basic is the 3-layer PatchGAN; n_layers a PatchGAN of n_layers_D layers")
    ngf: int = Field(64, ge=1, description="filters of the first conv layer of the ResNet generators (unet_3d uses "
                                           "unet_filters)")
    ndf: int = Field(64, ge=1, description="filters of the first conv layer of the PatchGAN discriminators")
    n_layers_D: int = Field(3, ge=1, description="PatchGAN depth; 'basic' means 3")  # noqa: N815
    unet_filters: tuple[int, ...] = Field((16, 32, 48, 64), description="unet_3d widths per level")
    gan_mode: Literal["lsgan", "vanilla"] = Field("lsgan", description="adversarial loss: lsgan (least squares, MSE "
                                                                       "to 1/0) or vanilla (BCE with logits)")
    init_gain: float = Field(0.02, gt=0, description="standard deviation of the N(0, init_gain) initial weights")
    lambda_A: float = Field(10.0, ge=0, description="weight of the A -> B -> A cycle loss (L1)")  # noqa: N815
    lambda_B: float = Field(10.0, ge=0, description="weight of the B -> A -> B cycle loss (L1)")  # noqa: N815
    lambda_identity: float = Field(
        0.0, ge=0, description="identity loss weight (the reference CycleGAN uses 0.5). 0 by default: EM -> ExM must "
                               "invert the contrast (dark membranes become bright), which the identity loss penalises; "
                               "measured on the demo data (2D resnet_6blocks, 180 iterations), G_A kept EM polarity at 0.5 "
                               "(corr(A, G_A(A)) +0.89) and inverted it at 0 (-0.83); see polarity_A/B in losses.jsonl")
    pool_size: int = Field(50, ge=0, description="generated images kept in each history pool the discriminators see "
                                                 "(0: only the newest)")
    lr: float = Field(2e-4, gt=0, description="initial Adam learning rate of generators and discriminators")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1 (first-moment decay)")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2 (second-moment decay)")
    n_epochs: int = Field(100, ge=0, description="epochs at the initial learning rate")
    n_epochs_decay: int = Field(100, ge=0, description="epochs of linear decay to zero")
    iters_per_epoch: int = Field(1000, ge=1, description="iterations (batches of random patches) per epoch")
    patch: tuple[int, ...] | None = Field(None, description="(Y, X) for dims 2, (Z, Y, X) for dims 3")
    batch_size: int = Field(1, ge=1, description="patch pairs (A, B) per iteration")
    min_foreground: float = Field(0.0, ge=0, le=1, description="least label > 0 fraction of an A patch")
    foreground_tries: int = Field(10, ge=1, description="random A patches drawn to meet min_foreground; the densest "
                                                        "is kept when none does")
    flip: bool = Field(True, description="random flips of the patches along each axis (in-plane only in 2D)")
    rot90: bool = Field(True, description="random in-plane 90-degree rotations of the patches")
    seg_head: bool = Field(True, description="give both generators a segmentation head supervised by the A labels "
                                             "(needs a_labels)")
    seg_target: SegTarget = Field("b", description="segmentation channels: b foreground (label > 0), c instance "
                                                   "contour, d normalised instance distance")
    contour_k: int = Field(1, ge=0, description="contour dilation half-width (PyTC 4-k-1)")
    seg_match_weight: float = Field(1.0, ge=0, description="weight of the segmentation losses of G_A's head on "
                                                           "G_A(A) and G_B's head on G_B(G_A(A)) against the A labels")
    seg_consistency_weight: float = Field(0.0, ge=0, description="CySGAN used 2.0")
    seg_discriminator: bool = Field(False, description="add D_seg, a PatchGAN telling A's label maps from the "
                                                       "heads' segmentations of real B and of G_B(B) (CySGAN)")
    seg_adv_weight: float = Field(1.0, ge=0, description="weight of the D_seg adversarial loss in the generator loss")
    detach_seg_adv: bool = Field(False, description="the D_seg loss on G_A's segmentation of G_B(B) reaches G_A only "
                                                    "(G_B(B) detached; CySGAN's detach_advers)")
    detach_seg_consistency: bool = Field(False, description="the seg consistency loss on G_A's segmentation of "
                                                            "G_B(B) reaches G_A only (G_B(B) detached; CySGAN's "
                                                            "detach_pcycle)")
    amp: bool = Field(True, description="mixed-precision training: autocast to amp_dtype on CUDA (GradScaler for float16), "
                                         "bfloat16 on CPUs with native bf16 (AVX512-BF16/AMX), float32 elsewhere")
    amp_dtype: Literal["bfloat16", "float16"] = Field("bfloat16", description="CUDA autocast dtype")
    channels_last: bool | None = Field(
        None, description="channels-last (3d) memory format; unset: on CUDA, and on CPU in 3D (2D CPU is faster in NCHW)"
    )
    device: Device = Field("auto", description="auto: cuda when available, else cpu")
    seed: int = Field(0, description="random seed of weight initialisation, patch sampling and image pools")
    log_interval: int = Field(50, ge=1, description="iterations between loss log lines")
    sample_interval: int = Field(500, ge=1, description="iterations between sample grids (training stage)")
    checkpoint_interval: int = Field(1000, ge=1, description="iterations between checkpoints (training stage)")

    @model_validator(mode="after")
    def _consistent(self) -> CCGANConfig:
        if len(self.patch_shape) != self.dims:
            raise ValueError(f"patch {self.patch} needs {self.dims} sizes for dims={self.dims}")
        if min(self.patch_shape) < 1:
            raise ValueError("patch sizes must be >= 1")
        if self.netG == "unet_3d" and self.dims != 3:
            raise ValueError("netG 'unet_3d' needs dims=3")
        if self.netD == "basic" and self.n_layers_D != 3:
            raise ValueError("netD 'basic' is the 3-layer PatchGAN; set netD: n_layers to use n_layers_D")
        uses_seg = self.seg_consistency_weight > 0 or self.seg_discriminator
        if uses_seg and not self.seg_head:
            raise ValueError("seg_consistency_weight / seg_discriminator need seg_head: true")
        return self

    @property
    def patch_shape(self) -> tuple[int, ...]:
        """The spatial patch shape: ``patch``, or (128, 128) in 2D and (17, 65, 65) in 3D when unset."""
        return self.patch if self.patch is not None else DEFAULT_PATCH[self.dims]

    @property
    def seg_channels(self) -> int:
        """Number of segmentation output channels (0 without heads)."""
        return len(self.seg_target) if self.seg_head else 0

    @property
    def total_iterations(self) -> int:
        """Iterations until the learning rate reaches its last decay step."""
        return (self.n_epochs + self.n_epochs_decay) * self.iters_per_epoch


class TransferOptions(BaseModel):
    """How ``ccgan-transfer`` applies G_A to a whole volume (the options section ``transfer``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    patch: tuple[int, ...] | None = Field(None, description="window (Y, X) or (Z, Y, X); default: the training patch")
    overlap: float = Field(0.25, ge=0, lt=1, description="fraction of a window shared with its neighbour")
    block: tuple[int, int, int] = Field((64, 256, 256), description="output block (Z, Y, X), multiples of 16")
    batch_size: int = Field(1, ge=1, description="windows per forward pass")
    generator: Literal["G_A", "G_B"] = Field(
        "G_A", description="G_A translates EM into ExM; G_B translates ExM into EM, and its segmentation head "
                           "segments the ExM volume directly (CySGAN's segmenter, the 'seghead' experiment)")
    blend: Literal["gaussian", "linear"] = Field("gaussian", description="weighting of overlapping windows: gaussian "
                                                                         "(peaked at the centre) or linear ramps")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA (ignored on CPU)")
    device: Device = Field("auto", description="auto: cuda when available, else cpu")

    @model_validator(mode="after")
    def _aligned(self) -> TransferOptions:
        if any(b < 16 or b % 16 for b in self.block):
            raise ValueError(f"block {self.block} must be multiples of 16 (output chunks align with blocks)")
        return self
