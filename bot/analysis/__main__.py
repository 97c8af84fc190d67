"""`python -m bot.analysis DIR [--json]`: the same as `bb-ops migrations analyze`."""

import sys

from bot.analysis import main

sys.exit(main())
