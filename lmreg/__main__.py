"""`python -m lmreg ...` is the `lmreg` command."""

import sys

from lmreg.experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
