"""Sign-in, dashboard and organization pages."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from accounts import operations, policy, queries
from accounts.choices import ORG_KIND_LABELS, OrgKind
from accounts.forms import LoginForm, OrganizationForm
from accounts.models import Organization
from accounts.operations import AuthenticationFailed
from core.extensions import db
from core.i18n import SESSION_KEY as LANGUAGE_KEY
from core.security import public
from core.web import page_number, paginate, run_form_operation, safe_next_url

bp = Blueprint("accounts", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("accounts.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = operations.authenticate_local(db.session, form.username.data or "", form.password.data or "")
        except AuthenticationFailed as exc:
            form.form_errors.append(str(exc.message))
        else:
            # A fresh session on every sign-in: nothing from before the login carries over but the language.
            language = session.get(LANGUAGE_KEY)
            session.clear()
            if language:
                session[LANGUAGE_KEY] = language
            login_user(user)
            return redirect(safe_next_url(request.args.get("next")))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    operations.record_logout(db.session, current_user)
    language = session.get(LANGUAGE_KEY)
    logout_user()
    session.clear()
    if language:
        session[LANGUAGE_KEY] = language
    flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.get("/")
def dashboard() -> str:
    policy.require(current_user, policy.Action.VIEW_DASHBOARD)
    if policy.is_regulator(current_user):
        return render_template(
            "accounts/dashboard_regulator.html",
            figures=queries.dashboard_figures(db.session),
            events=queries.recent_events(db.session),
            kinds=ORG_KIND_LABELS,
        )
    org = current_user.organization
    return render_template(
        "accounts/dashboard_member.html",
        organization=org,
        members=queries.organization_users(db.session, org),
        events=queries.recent_events(db.session, organization_id=org.id),
    )


@bp.get("/organizations")
def organization_list() -> str:
    policy.require(current_user, policy.Action.LIST_ORGANIZATIONS)
    q = request.args.get("q", "").strip()[:100]
    kind = request.args.get("kind", "")
    kind = kind if kind in {k.value for k in OrgKind} else ""
    page = paginate(db.session, queries.organization_list(q, kind or None), page_number())
    page_items = [queries.OrganizationRow(org, n) for org, n in page.items]
    return render_template(
        "accounts/organization_list.html", page=page, rows=page_items, q=q, kind=kind, kinds=ORG_KIND_LABELS,
        can_manage=policy.can(current_user, policy.Action.MANAGE_ORGANIZATIONS),
    )  # fmt: skip


def _load_organization(code: str) -> Organization:
    org = queries.organization_by_code(db.session, code)
    if org is None:
        abort(404)
    return org


@bp.get("/organizations/<code>")
def organization_detail(code: str) -> str:
    org = _load_organization(code)
    policy.require(current_user, policy.Action.VIEW_ORGANIZATION, org)
    return render_template(
        "accounts/organization_detail.html",
        org=org,
        members=queries.organization_users(db.session, org),
        events=queries.object_history(db.session, "organization", org.code),
        can_manage=policy.can(current_user, policy.Action.MANAGE_ORGANIZATIONS, org),
    )


@bp.route("/organizations/new", methods=["GET", "POST"])
def organization_create() -> str | Response:
    policy.require(current_user, policy.Action.MANAGE_ORGANIZATIONS)
    form = OrganizationForm()
    if form.validate_on_submit():
        org = run_form_operation(
            form, operations.create_organization, db.session, actor=current_user, **_form_values(form)
        )
        if org is not None:
            flash(_("Organization %(code)s created.", code=org.code), "success")
            return redirect(url_for("accounts.organization_detail", code=org.code))
    return render_template("accounts/organization_form.html", form=form, org=None)


@bp.route("/organizations/<code>/edit", methods=["GET", "POST"])
def organization_edit(code: str) -> str | Response:
    org = _load_organization(code)
    policy.require(current_user, policy.Action.MANAGE_ORGANIZATIONS, org)
    form = OrganizationForm(obj=org)
    if form.validate_on_submit():
        updated = run_form_operation(
            form, operations.update_organization, db.session, org, actor=current_user, **_form_values(form)
        )
        if updated is not None:
            flash(_("Organization %(code)s saved.", code=updated.code), "success")
            return redirect(url_for("accounts.organization_detail", code=updated.code))
    return render_template("accounts/organization_form.html", form=form, org=org)


def _form_values(form: OrganizationForm) -> dict[str, str | None]:
    return {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
