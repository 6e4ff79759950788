"""``python -m em2exm`` is the umbrella CLI."""

import sys

from em2exm.cli import main

sys.exit(main())
