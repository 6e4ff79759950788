"""Container entry point of the match-intensity stage (``python -m stages.match_intensity``; generated from
em2exm.specs.match_intensity by ``make generate``; the logic is em2exm.tasks.match_intensity)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("match-intensity", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
