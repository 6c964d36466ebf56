"""The value lists page of the filing settings (regulator administrators)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from core.errors import DomainError
from core.extensions import db
from core.security import allow
from core.web import run_form_operation
from filing import queries, value_lists
from filing.blueprint import bp
from filing.choices import CHOICE_LIST_LABELS, ChoiceList
from filing.forms import ValueEditForm, ValueForm
from filing.permissions import Action

MANAGE = Action.MANAGE_FILING_SETTINGS.value


@bp.route("/settings/values", methods=["GET", "POST"])
@allow(MANAGE)
def value_lists_page() -> str | Response:
    form = ValueForm()
    if form.validate_on_submit():
        added = run_form_operation(form, value_lists.add_value, db.session, form.list.data, form.code.data,
                                   form.name_zh.data, form.name_en.data, actor=current_user)  # fmt: skip
        if added is not None:
            flash(_("%(code)s is added to the list.", code=added.code), "success")
            return redirect(url_for("filing.value_lists_page", _anchor=f"list-{added.list}"))
    lists = {name: queries.choice_values(db.session, name, active_only=False) for name in ChoiceList}
    return render_template("filing/value_lists.html", form=form, edit_form=ValueEditForm(), lists=lists,
                           labels=CHOICE_LIST_LABELS)  # fmt: skip


@bp.post("/settings/values/<int(max=2147483647):value_id>")
@allow(MANAGE)
def value_update(value_id: int) -> Response:
    form = ValueEditForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        value = value_lists.update_value(db.session, value_id, name_zh=form.name_zh.data, name_en=form.name_en.data,
                                         active=form.active.data, actor=current_user)  # fmt: skip
    except DomainError as refused:
        db.session.rollback()
        flash(str(refused.message), "danger")
        return redirect(url_for("filing.value_lists_page"))
    flash(_("%(code)s is saved.", code=value.code), "success")
    return redirect(url_for("filing.value_lists_page", _anchor=f"list-{value.list}"))
