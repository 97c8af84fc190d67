"""BudgetBuddy reference backend: the small API that bb-ops deploys against in its demo
and end-to-end tests. Run it with ``uvicorn budgetbuddy.main:app`` from ``backend/``.

This package must stay light to import: ``migrations/env.py`` and ``budgetbuddy.manage``
import helpers from it without loading the web app or validating the app's settings.
"""

MEDIA_TYPE = "application/vnd.budgetbuddy.v1+json"

__all__ = ["MEDIA_TYPE"]
