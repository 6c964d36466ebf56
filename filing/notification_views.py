"""The signed-in user's notifications (``/filings/notifications``), newest first, the unread highlighted, and the
unread count the top navigation shows (``unread_notifications()`` in every template)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from accounts.permissions import Action as AccountAction
from core.extensions import db
from core.security import allow
from core.web import page_number, paginate
from filing.blueprint import bp
from filing.notifications import kind_label, mark_all_read, notifications_for, text_of, unread_count

ANYONE = AccountAction.VIEW_DASHBOARD.value  # every signed-in user has notifications


@bp.app_template_global()
def unread_notifications() -> int:
    """The signed-in user's unread notifications (0 for a visitor)."""
    if not current_user.is_authenticated:
        return 0
    return unread_count(db.session, current_user)


@bp.get("/notifications")
@allow(ANYONE)
def notifications() -> str:
    page = paginate(db.session, notifications_for(current_user), page_number())
    items = [(n, text_of(n), kind_label(n.kind)) for n in page.items]
    return render_template("filing/notifications.html", page=page, items=items)


@bp.post("/notifications/read")
@allow(ANYONE)
def notifications_read() -> Response:
    marked = mark_all_read(db.session, actor=current_user)
    if marked:
        flash(_("%(n)d notifications marked read.", n=marked), "success")
    return redirect(url_for("filing.notifications"))
