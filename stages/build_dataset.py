"""Container entry point of the build-dataset stage (``python -m stages.build_dataset``; generated from
em2exm.specs.build_dataset by ``make generate``; the logic is em2exm.tasks.build_dataset)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("build-dataset", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
