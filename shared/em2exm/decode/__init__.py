"""Instance decoding of network maps: PyTC v1.0-compatible decoders and blockwise decoding."""

from em2exm.decode.blocks import BlockPlan
from em2exm.decode.blockwise import BlockData, decode_block, plan_for
from em2exm.decode.decoders import bc_connected, bc_watershed, bcd_watershed, binary_watershed, spec
from em2exm.decode.mergetable import MergeTable
from em2exm.decode.stitch import merge, merge_loaded
from em2exm.decode.tiled import decode_blockwise

__all__ = [
    "BlockData", "BlockPlan", "MergeTable", "bc_connected", "bc_watershed", "bcd_watershed", "binary_watershed",
    "decode_block", "decode_blockwise", "merge", "merge_loaded", "plan_for", "spec",
]
