"""`python -m batchline_cli ...`, the same as the `batchline` console script."""

import sys

from batchline_cli.main import main

sys.exit(main())
