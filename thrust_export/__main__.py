"""``python -m thrust_export``: the ``thrust-export`` command line."""

import sys

from thrust_export.cli import main

if __name__ == "__main__":
    sys.exit(main())
