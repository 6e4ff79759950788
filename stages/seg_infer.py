"""Container entry point of the seg-infer stage (``python -m stages.seg_infer``; generated from
em2exm.specs.seg_infer by ``make generate``; the logic is em2exm.tasks.seg_infer)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("seg-infer", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
