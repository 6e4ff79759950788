"""Container entry point of the visualize stage (``python -m stages.visualize``; generated from
em2exm.specs.visualize by ``make generate``; the logic is em2exm.tasks.visualize)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("visualize", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
