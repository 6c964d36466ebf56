"""The filing pages' blueprint: the views live in ``views.py`` (filings and the review), ``calendar_views.py``
(the working-day calendar and settings), ``report_views.py`` (exports and the national report) and
``dashboard_views.py`` (the regulator's dashboard)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("filing", __name__, url_prefix="/filings")
