"""``/api/v1``: the signed-in user and organizations."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from accounts import queries, search
from accounts.models import Organization, User
from accounts.permissions import Action
from accounts.schemas import (
    CurrentUserSchema,
    OrganizationListArgsSchema,
    OrganizationPageSchema,
    OrganizationSchema,
)
from core import policy
from core.api import API_PREFIX
from core.api import ApiBlueprint as Blueprint
from core.extensions import db
from core.security import ANY_SIGNED_IN, allow
from core.web import paginate

blp = Blueprint("accounts_api", __name__, url_prefix=API_PREFIX, description="Accounts and organizations")


@blp.route("/me")
@allow(ANY_SIGNED_IN)
class Me(MethodView):
    @blp.response(200, CurrentUserSchema)
    @blp.alt_response(401, schema="ApiError")
    def get(self) -> User:
        """The signed-in user."""
        return current_user


@blp.route("/organizations")
@allow(ANY_SIGNED_IN)
class Organizations(MethodView):
    @blp.arguments(OrganizationListArgsSchema, location="query")
    @blp.response(200, OrganizationPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Organizations the caller may see (regulators: all; others: their own), filtered by text and kind."""
        stmt = search.organizations_in_view(current_user, queries.organization_list(args["q"], args["kind"]))
        page = paginate(db.session, stmt, args["page"], args["per_page"])
        return {"items": [org for org, _count in page.items], "meta": page}


@blp.route("/organizations/<code>")
@allow(ANY_SIGNED_IN)
class OrganizationByCode(MethodView):
    @blp.response(200, OrganizationSchema)
    @blp.alt_response(403, schema="ApiError")
    @blp.alt_response(404, schema="ApiError")
    def get(self, code: str) -> Organization:
        """One organization: regulators see any, others only their own."""
        org = queries.organization_by_code(db.session, code)
        if org is None or not policy.can(current_user, Action.VIEW_ORGANIZATION, org):
            # Another tenant's organization is indistinguishable from a missing one.
            abort(404)
        return org
