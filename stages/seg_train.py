"""Container entry point of the seg-train stage (``python -m stages.seg_train``; generated from
em2exm.specs.seg_train by ``make generate``; the logic is em2exm.tasks.seg_train)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("seg-train", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
