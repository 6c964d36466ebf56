"""The search box in the navigation bar and its results page, on the accounts blueprint."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from accounts.permissions import Action
from accounts.search import MAX_QUERY_LENGTH, Group, search
from accounts.views import bp
from core import policy
from core.extensions import db
from core.security import ANY_SIGNED_IN, allow
from core.web import page_number
from filing.operations import today_for

GROUP_PREVIEW = 10  # hits of each group on the results page; the group's own pages show the rest


@bp.get("/search", endpoint="search")
@allow(ANY_SIGNED_IN)
def search_page() -> str | Response:
    q = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    group = Group(request.args["group"]) if request.args.get("group") in set(Group) else None
    if not q:
        return render_template("accounts/search.html", q="", group=None, results=None)
    results = search(
        db.session, current_user, q, today=today_for(db.session), group=group,
        page=page_number() if group else 1, per_page=current_app.config["PAGE_SIZE"] if group else GROUP_PREVIEW,
    )  # fmt: skip
    hit = None if group else results.only_exact_hit()
    if hit is not None:
        return redirect(search_hit_url(*hit))
    return render_template("accounts/search.html", q=q, group=group, results=results)


@bp.app_template_global()
def search_hit_url(group: Group, hit: Any) -> str:
    """Where a hit leads: its page; a holder the user may not open leads to its prefixes the user sees."""
    if group is Group.PREFIXES:
        return url_for("ipam.prefix_detail", prefix_id=hit.prefix.id)
    if group is Group.ORGANIZATIONS:
        if policy.can(current_user, Action.VIEW_ORGANIZATION, hit):
            return url_for("accounts.organization_detail", code=hit.code)
        return url_for("ipam.prefix_list", holder=hit.code)
    if group is Group.IMPORTS:
        return url_for("imports.import_detail", batch_id=hit.id)
    return url_for("filing.filing_detail", filing_id=hit.id)
