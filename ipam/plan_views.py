"""Subnet plan pages (``/plans``): the saved plans, the planner (a tree editor with a live preview, a picture of
the parent and messages beside the failing node), side-by-side comparison, applying, exports."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("plans", __name__, url_prefix="/plans")
