"""``python -m captioner``: the same command line as the ``captioner`` script."""

import sys

from captioner.cli import main

sys.exit(main())
