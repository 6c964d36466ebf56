"""The base of every form: a form that fails validation marks the request's transaction for rollback.

The request commits only when its operation succeeded (``core.db``): a page re-rendered with errors answers 200,
which alone would commit whatever was flushed on the way (``run_form_operation`` also marks a refused operation).
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context
from flask_wtf import FlaskForm


def roll_back_request() -> None:
    """Whatever this request flushed is rolled back, whatever status the response has."""
    if has_request_context():
        g.db_rollback_only = True


class Form(FlaskForm):
    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if not valid:
            roll_back_request()
        return valid
