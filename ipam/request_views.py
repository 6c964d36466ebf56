"""Prefix request pages (``/requests``): the enterprise's requests and form, the allocator's queue with the
requester's holdings and an approval previewed from a pool, and every request read-only for regulators."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("requests", __name__, url_prefix="/requests")
