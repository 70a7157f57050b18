"""``python -m logdot``: the same entry point as the ``logdot`` command."""

import sys

from logdot.cli import main

if __name__ == "__main__":
    sys.exit(main())
