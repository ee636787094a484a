"""`python -m facefuse` runs the command line."""

import sys

from facefuse.cli import main

sys.exit(main())
