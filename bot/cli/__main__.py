"""`python -m bot.cli`: the same as the `bb-ops` console script."""

import sys

from bot.cli import main

sys.exit(main())
