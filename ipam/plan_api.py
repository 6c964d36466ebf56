"""``/api/v1/plans``: subnet plans from YAML or JSON: previewed without saving, saved as drafts, read, updated,
compared and applied through the registry writer.

Errors: 404 for a plan (or parent) the caller may not see, 409 for space taken meanwhile, 422 for a document that
is not a plan or a plan that does not fit (``fields`` names the node); nothing changes on any error.
"""

from __future__ import annotations

from core.api import API_PREFIX
from core.api import ApiBlueprint as Blueprint

blp = Blueprint("plans_api", __name__, url_prefix=f"{API_PREFIX}/plans", description="Subnet plans")
