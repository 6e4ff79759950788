"""Container entry point of the ingest stage (``python -m stages.ingest``; generated from
em2exm.specs.ingest by ``make generate``; the logic is em2exm.tasks.ingest)."""

import sys
from collections.abc import Sequence

from em2exm import stagekit


def main(argv: Sequence[str]) -> None:
    stagekit.stage_main("ingest", argv)


if __name__ == "__main__":
    sys.exit(stagekit.run_stage(main))
