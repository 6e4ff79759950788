"""Container entry point of the simulate-exm stage (``python -m stages.simulate_exm``; generated from
em2exm.specs.simulate_exm by ``make generate``; the logic is em2exm.tasks.simulate_exm)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("simulate-exm", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
