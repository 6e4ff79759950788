"""Container entry point of the decode stage (``python -m stages.decode``; generated from
em2exm.specs.decode by ``make generate``; the logic is em2exm.tasks.decode)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("decode", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
