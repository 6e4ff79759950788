"""Instance decoding of network maps: PyTC v1.0-compatible decoders and blockwise decoding."""

from em2exm.lazy import exports

_WHERE = {
    "BlockData": "blockwise",
    "BlockPlan": "blocks",
    "MergeTable": "mergetable",
    "bc_connected": "decoders",
    "bc_watershed": "decoders",
    "bcd_watershed": "decoders",
    "binary_watershed": "decoders",
    "decode_block": "blockwise",
    "decode_blockwise": "tiled",
    "merge": "stitch",
    "merge_loaded": "stitch",
    "plan_for": "blockwise",
    "spec": "decoders",
}
__all__ = [
    "BlockData", "BlockPlan", "MergeTable", "bc_connected", "bc_watershed", "bcd_watershed", "binary_watershed",
    "decode_block", "decode_blockwise", "merge", "merge_loaded", "plan_for", "spec",
]
__getattr__ = exports(__name__, _WHERE)
