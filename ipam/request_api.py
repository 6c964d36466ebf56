"""``/api/v1/requests``: prefix requests, created, listed, read, edited and moved along their workflow
(``ipam.prefix_requests.REQUESTS``), with the approval previewed from a pool before it allocates.

Errors: 404 for a request the caller may not see, 409 for a step the state or the caller's role does not allow
(or free space that changed since the preview), 422 for invalid values (``fields`` names them); nothing changes
on any error.
"""

from __future__ import annotations

from core.api import API_PREFIX
from core.api import ApiBlueprint as Blueprint

blp = Blueprint("requests_api", __name__, url_prefix=f"{API_PREFIX}/requests", description="Prefix requests")
