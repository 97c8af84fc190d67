"""`python -m bot.analysis DIR [--json]`: the same as `bb-ops migrations analyze`."""

import sys

from bot.analysis.cli import main

sys.exit(main())
