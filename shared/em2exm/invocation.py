"""How one task of a stage is run: whether to redo an output em2exm wrote, and which blockwise phase."""

from __future__ import annotations

from dataclasses import dataclass

from em2exm.outputs import Redo


@dataclass(frozen=True)
class Invocation:
    """The command line's ``--overwrite`` / ``--update`` and ``--plan-blocks`` / ``--blocks`` / a pass
    (``--merge``, ``--apply START:STOP``, ...) / ``--finalise``, as a task called from Python takes them (the default:
    the whole stage, never redoing a finished output)."""

    redo: Redo = "never"
    plan_blocks: int | None = None
    """Prepare the output and print the block ranges, this many blocks per task."""
    blocks: str | None = None
    """Process only the blocks ``START:STOP``."""
    finalise: bool = False
    """Finish the processed blocks (their merge, unless the stage has passes of its own) and commit the output."""
    step: str | None = None
    """Run only this pass of the stage's (``StageSpec.passes``)."""
    step_blocks: str | None = None
    """The blocks ``START:STOP`` a fanned-out pass runs on (default: all)."""

    @property
    def phase(self) -> str:
        """The blockwise phase asked for (``all`` without any)."""
        if self.plan_blocks is not None:
            return "plan"
        if self.blocks is not None:
            return "blocks"
        if self.step is not None:
            return self.step
        return "finalise" if self.finalise else "all"
