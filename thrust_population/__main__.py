"""``python -m thrust_population``: the ``thrust-population`` command line."""

import sys

from thrust_population.cli import main

if __name__ == "__main__":
    sys.exit(main())
