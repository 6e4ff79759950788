"""Instance decoding of network maps: PyTC v1.0-compatible decoders and blockwise decoding."""

from em2exm.lazy import exports

_WHERE = {
    "BlockData": "blockwise",
    "BlockPlan": "blocks",
    "bc_connected": "decoders",
    "bc_watershed": "decoders",
    "bcd_watershed": "decoders",
    "binary_watershed": "decoders",
    "decode_block": "blockwise",
    "decode_blockwise": "tiled",
    "MemoryState": "state",
    "apply_block": "passes",
    "flood_pass": "passes",
    "merge_pass": "passes",
    "number_pass": "passes",
    "plan_for": "blockwise",
    "spec": "decoders",
    "stitch": "passes",
}
__all__ = [
    "BlockData", "BlockPlan", "MemoryState", "apply_block", "bc_connected", "bc_watershed", "bcd_watershed",
    "binary_watershed", "decode_block", "decode_blockwise", "flood_pass", "merge_pass", "number_pass", "plan_for",
    "spec", "stitch",
]
__getattr__ = exports(__name__, _WHERE)
