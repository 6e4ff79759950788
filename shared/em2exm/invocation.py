"""How one task of a stage is run: whether to redo an output em2exm wrote, and which blockwise phase."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from em2exm.outputs import Redo

Phase = Literal["all", "plan", "blocks", "merge", "apply", "finalise"]


@dataclass(frozen=True)
class Invocation:
    """The command line's ``--overwrite`` / ``--update`` and ``--plan-blocks`` / ``--blocks`` / ``--merge`` /
    ``--apply`` / ``--finalise``, as a task called from Python takes them (the default: the whole stage, never redoing a finished output)."""

    redo: Redo = "never"
    plan_blocks: int | None = None
    """Prepare the output and print the block ranges, this many blocks per task."""
    blocks: str | None = None
    """Process only the blocks ``START:STOP``."""
    merge: bool = False
    """Merge the processed blocks (stages with a second pass)."""
    apply: str | None = None
    """Apply the merge to the blocks ``START:STOP`` (stages with a second pass)."""
    finalise: bool = False
    """Finish the processed blocks (their merge, unless the stage has a second pass) and commit the output."""

    @property
    def phase(self) -> Phase:
        """The blockwise phase asked for (``all`` without any)."""
        if self.plan_blocks is not None:
            return "plan"
        if self.blocks is not None:
            return "blocks"
        if self.merge:
            return "merge"
        if self.apply is not None:
            return "apply"
        return "finalise" if self.finalise else "all"
