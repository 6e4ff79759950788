"""Container entry point of the ccgan-transfer stage (``python -m stages.ccgan_transfer``; generated from
em2exm.specs.ccgan_transfer by ``make generate``; the logic is em2exm.tasks.ccgan_transfer)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("ccgan-transfer", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
