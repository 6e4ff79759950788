"""Container entry point of the ccgan-train stage (``python -m stages.ccgan_train``; generated from
em2exm.specs.ccgan_train by ``make generate``; the logic is em2exm.tasks.ccgan_train)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("ccgan-train", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
