"""The ``decode`` options section: which decoder, its PyTC keyword arguments, and the block plan."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from em2exm.config import StrictModel
from em2exm.errors import UserError
from em2exm.tiling.grid import Triple

if TYPE_CHECKING:
    from em2exm.decode.specs import Spec

Mode = Literal["bc_watershed", "bcd_watershed", "binary_watershed", "bc_connected"]
MODES: tuple[str, ...] = ("bc_watershed", "bcd_watershed", "binary_watershed", "bc_connected")
# Channel names a prediction may carry under attrs["em2exm"]["channels"], as B/C/D letters.
_LETTERS = {"foreground": "B", "binary": "B", "semantic": "B", "b": "B", "contour": "C", "boundary": "C",
            "c": "C", "distance": "D", "signed_distance": "D", "d": "D"}
_AUTO = {"B": "binary_watershed", "BC": "bc_watershed", "BCD": "bcd_watershed"}
_THRESHOLDS = ("thres1", "thres2", "thres3", "thres4", "thres5")


class DecodeOptions(StrictModel):
    """Decoder and block plan. Thresholds left at None take the chosen decoder's PyTC default
    (bc/bcd_watershed 0.9, 0.8, 0.85, 0.5, 0.0; binary_watershed 0.98, 0.85; bc_connected 0.8, 0.5)."""

    mode: Literal["auto", "bc_watershed", "bcd_watershed", "binary_watershed", "bc_connected"] = Field(
        "auto", description="decoder; auto picks it from the predictions' channels (foreground: binary_watershed, "
                            "+ contour: bc_watershed, + distance: bcd_watershed); bc_connected labels "
                            "foreground-and-not-contour voxels 26-connected and dilates them (no watershed)")
    thres1: float | None = Field(None, description="seed test on the foreground probability (seeds need > thres1) in "
                                                   "bc/bcd_watershed and binary_watershed; in bc_connected the "
                                                   "foreground test of the components; unset: the decoder's default")
    thres2: float | None = Field(None, description="bc/bcd_watershed: seeds need contour probability < thres2; "
                                                   "binary_watershed: the watershed floods only where foreground > "
                                                   "thres2; bc_connected: components need contour < thres2")
    thres3: float | None = Field(None, description="bc/bcd_watershed only: the watershed floods only where "
                                                   "foreground > thres3")
    thres4: float | None = Field(None, description="bcd_watershed only: seeds need signed distance (-1..1) > thres4")
    thres5: float | None = Field(None, description="bcd_watershed only: the watershed floods only where signed "
                                                   "distance (-1..1) > thres5")
    thres_small: int = Field(128, ge=0, description="instances of at most thres_small voxels (fewer, with "
                                                    "small_inclusive false) become background (with "
                                                    "remove_small_mode background)")
    seed_thres: int = Field(32, ge=0, description="watershed decoders: seeds (26-connected) of at most seed_thres "
                                                  "voxels (fewer, with small_inclusive false) are dropped")
    small_inclusive: bool = Field(True, description="how thres_small and seed_thres cut: true removes objects of "
                                                    "size <= the threshold, as PyTC does on scikit-image >= 0.26 "
                                                    "(what a fresh install gets); false removes size < the "
                                                    "threshold, as on scikit-image <= 0.25")
    remove_small_mode: Literal["background", "none"] = Field(
        "background", description="background: instances of thres_small voxels or fewer become background "
                                  "(PyTC's default); none: keep every instance")
    dilation_struct: Triple = Field((1, 5, 5), description="bc_connected only: odd box (z, y, x) in voxels by which "
                                                           "the components are grey-dilated (larger id wins)")
    float_scale: float | None = Field(None, gt=0, description="float maps are multiplied by this and clipped to "
                                                              "0..255 (255 for probabilities in [0, 1]); null: the "
                                                              "maps must be uint8")
    block: Triple = Field((128, 512, 512), description="decoded block (z, y, x) in voxels (at most the volume); "
                                                       "blocks are stitched exactly for objects of any size, each "
                                                       "reading only the context its decoder needs (1 voxel; "
                                                       "bc_connected: the dilation's reach)")
    dtype: Literal["uint32", "uint64"] = Field("uint32", description="dtype of the instance ids written (uint64 for "
                                                                     "more ids or larger blocks)")

    def resolve_mode(self, channels: int, names: Sequence[str] | None) -> str:
        """The decoder to run on maps with ``channels`` channels (named ``names`` when known)."""
        mode = self.mode if self.mode != "auto" else auto_mode(channels, names)
        need = {"bc_watershed": 2, "bcd_watershed": 3, "bc_connected": 2}.get(mode)
        if (need is not None and channels != need) or channels < 1:
            got = f" ({', '.join(names)})" if names else ""
            raise UserError(
                f"decode mode {mode} needs {need or 'at least 1'} channel(s), the predictions have {channels}{got}",
                "set decode.mode to match the model's channels (B: binary_watershed, BC: bc_watershed or "
                "bc_connected, BCD: bcd_watershed)",
            )
        return mode

    def spec(self, mode: str) -> Spec:
        """``mode``'s checked settings with these options (thresholds set here must be ones it takes)."""
        from em2exm.decode import decoders  # numba: loaded only when a stage decodes

        accepted = inspect.signature(decoders.DECODERS[mode]).parameters
        kwargs: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if name not in accepted or value is None:
                if name in _THRESHOLDS and value is not None:
                    raise UserError(f"decode.{name} is set but {mode} has no {name}",
                                    f"remove decode.{name} or pick a mode that takes it")
                continue
            kwargs[name] = value
        return decoders.spec(mode, **kwargs)


def auto_mode(channels: int, names: Sequence[str] | None) -> str:
    """The decoder for a prediction: from its channel names when given, else from the count."""
    if names:
        letters = "".join(_LETTERS.get(str(n).lower(), "?") for n in names)
        if letters not in _AUTO:
            raise UserError(f"cannot pick a decoder for channels {list(names)}",
                            f"set decode.mode to one of {', '.join(MODES)}")
        return _AUTO[letters]
    if channels not in (1, 2, 3):
        raise UserError(f"cannot pick a decoder for {channels} unnamed channels",
                        f"set decode.mode to one of {', '.join(MODES)}")
    return _AUTO["BCD"[:channels]]
