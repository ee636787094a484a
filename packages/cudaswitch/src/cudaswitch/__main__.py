"""``python -m cudaswitch``: the ``cudaswitch`` command where a venv's scripts are not on PATH."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
