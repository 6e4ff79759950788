"""Container entry point of the evaluate stage (``python -m stages.evaluate``; generated from
em2exm.specs.evaluate by ``make generate``; the logic is em2exm.tasks.evaluate)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("evaluate", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
