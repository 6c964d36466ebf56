"""Sign-in, dashboard and organization pages."""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from accounts import home, operations, queries, sessions, trail
from accounts.choices import ORG_KIND_LABELS, OrgKind
from accounts.forms import (
    AuditFilterForm,
    LoginForm,
    OrganizationForm,
    PasswordChangeForm,
    PasswordResetForm,
    TokenForm,
    UserCreateForm,
)
from accounts.ldap import DirectoryUnavailable, LdapSettings
from accounts.models import ApiToken, AuditEvent, Organization, User
from accounts.operations import AuthenticationFailed
from accounts.permissions import Action
from accounts.sessions import SessionRules
from core import policy
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db, limiter
from core.i18n import SESSION_KEY as LANGUAGE_KEY
from core.messages import message as _l
from core.security import ANY_SIGNED_IN, allow, public
from core.web import CHINA_TIME, csv_response, page_number, paginate, run_form_operation, safe_next_url
from importers.permissions import Action as ImportAction
from ipam import request_queries

bp = Blueprint("accounts", __name__)
SESSION_ID_KEY = "sid"  # the secret naming the server-side session (accounts.sessions)
DEVICE_COOKIE = "v6b_device"  # marks a browser that signed in to an account before (sign-in throttling)
DEVICE_DAYS = 365


def login_policy() -> operations.LoginPolicy:
    return operations.LoginPolicy(
        max_failures=current_app.config["LOGIN_MAX_FAILURES"],
        lockout=timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"]),
    )


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("accounts.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data or ""
        device = _known_device(username)
        try:
            user = operations.sign_in(
                db.session, username, form.password.data or "",
                client=operations.client_key(device, request.remote_addr),
                directory=LdapSettings.from_config(current_app.config), policy_=login_policy(),
            )  # fmt: skip
        except (AuthenticationFailed, DirectoryUnavailable) as exc:
            form.form_errors.append(str(exc.message))
        else:
            # A fresh session on every sign-in: nothing from before the login carries over but the language.
            language = session.get(LANGUAGE_KEY)
            session.clear()
            if language:
                session[LANGUAGE_KEY] = language
            session[SESSION_ID_KEY] = operations.open_session(
                db.session, user, rules=SessionRules.from_config(current_app.config),
                remote_addr=request.remote_addr, user_agent=request.user_agent.string,
            )  # fmt: skip
            login_user(user)
            response = redirect(safe_next_url(request.args.get("next")))
            _remember_device(response, username, device)
            return response
    return render_template(
        "accounts/login.html", form=form, directory=LdapSettings.from_config(current_app.config) is not None
    )


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="v6beian-device")


def _known_device(username: str) -> str | None:
    """The id of this browser if it signed in to ``username`` before (a signed cookie), else None."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        account, device = _device_signer().loads(raw, max_age=DEVICE_DAYS * 86400)
    except (BadSignature, ValueError, TypeError):
        return None
    return device if account == username.strip().casefold()[:64] else None


def _remember_device(response: Response, username: str, device: str | None) -> None:
    value = _device_signer().dumps([username.strip().casefold()[:64], device or secrets.token_urlsafe(16)])
    response.set_cookie(
        DEVICE_COOKIE, value, max_age=DEVICE_DAYS * 86400, httponly=True, samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )  # fmt: skip


@bp.post("/logout")
@allow(ANY_SIGNED_IN)
def logout() -> Response:
    operations.record_logout(db.session, current_user)
    if isinstance(session.get(SESSION_ID_KEY), str):
        operations.end_session(db.session, session[SESSION_ID_KEY])
    language = session.get(LANGUAGE_KEY)
    logout_user()
    session.clear()
    if language:
        session[LANGUAGE_KEY] = language
    flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.get("/")
@allow(Action.VIEW_DASHBOARD)
def dashboard() -> str:
    if policy.can(current_user, Action.OVERSEE_ALL):
        return render_template(
            "accounts/dashboard_regulator.html",
            figures=queries.dashboard_figures(db.session),
            unverified=queries.unverified_by_kind(db.session),
            imports=home.recent_imports(db.session, current_user),
            events=queries.recent_events(db.session),
            kinds=ORG_KIND_LABELS,
            turnaround=request_queries.turnaround(db.session, now=utcnow()),
        )
    org = current_user.organization
    return render_template(
        "accounts/dashboard_member.html",
        organization=org,
        members=queries.organization_users(db.session, org),
        holdings=home.holdings(db.session, org),
        named_holders=home.unverified_holders(db.session, org)
        if policy.can(current_user, Action.VERIFY_ORGANIZATION)
        else None,
        imports=home.recent_imports(db.session, current_user)
        if policy.can(current_user, ImportAction.VIEW_IMPORT)
        else None,
        events=queries.recent_events(db.session, organization_id=org.id),
        request_counts=request_queries.counts_for(db.session, org.id),
    )


@bp.app_template_global()
def audit_lines(events: list[AuditEvent]) -> list[trail.Line]:
    """The history on every object's page: its events as sentences, their names read in one query."""
    return trail.lines(db.session, events)


bp.add_app_template_filter(trail.shortened, "shortened")


VERIFIED_FILTER = {"yes": True, "no": False}


@bp.get("/organizations")
@allow(Action.LIST_ORGANIZATIONS)
def organization_list() -> str:
    q = request.args.get("q", "").strip()[:100]
    kind = request.args.get("kind", "")
    kind = kind if kind in {k.value for k in OrgKind} else ""
    verified = request.args.get("verified", "")
    verified = verified if verified in VERIFIED_FILTER else ""
    page = paginate(
        db.session, queries.organization_list(q, kind or None, VERIFIED_FILTER.get(verified)), page_number()
    )
    page_items = [queries.OrganizationRow(org, n) for org, n in page.items]
    return render_template(
        "accounts/organization_list.html", page=page, rows=page_items, q=q, kind=kind, kinds=ORG_KIND_LABELS,
        verified=verified, can_manage=policy.can(current_user, Action.MANAGE_ORGANIZATIONS),
    )  # fmt: skip


def _load_organization(code: str) -> Organization:
    org = queries.organization_by_code(db.session, code)
    if org is None:
        abort(404)
    return org


@bp.get("/organizations/<code>")
@allow(ANY_SIGNED_IN)
def organization_detail(code: str) -> str:
    org = queries.organization_by_code(db.session, code)
    if org is None or not policy.can(current_user, Action.VIEW_ORGANIZATION, org):
        abort(404)  # another tenant's organization is indistinguishable from a missing one
    origin = queries.holder_origin(db.session, org)
    return render_template(
        "accounts/organization_detail.html",
        org=org,
        origin=origin,
        members=queries.organization_users(db.session, org),
        events=queries.object_history(db.session, "organization", org.code, since=org.created_at),
        can_manage=policy.can(current_user, Action.MANAGE_ORGANIZATIONS, org),
        can_verify=not org.verified and policy.can(current_user, Action.VERIFY_ORGANIZATION, origin),
    )


@bp.post("/organizations/<code>/verify")
@allow(Action.VERIFY_ORGANIZATION)
def organization_verify(code: str) -> Response:
    """A regulator, or the carrier whose import named the holder, confirms it; back to the page it was asked on."""
    org = queries.organization_by_code(db.session, code)
    if org is None or not policy.can(current_user, Action.VERIFY_ORGANIZATION, queries.holder_origin(db.session, org)):
        abort(404)  # a holder another carrier named is none of this one's business
    operations.verify_organization(db.session, org, actor=current_user)
    flash(_("%(name)s is verified.", name=org.name), "success")
    return redirect(safe_next_url(request.form.get("next")))


@bp.route("/organizations/new", methods=["GET", "POST"])
@allow(Action.MANAGE_ORGANIZATIONS)
def organization_create() -> str | Response:
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
@allow(Action.MANAGE_ORGANIZATIONS)
def organization_edit(code: str) -> str | Response:
    org = _load_organization(code)
    policy.require(current_user, Action.MANAGE_ORGANIZATIONS, org)
    form = OrganizationForm(obj=org)
    if form.validate_on_submit():
        updated = run_form_operation(
            form, operations.update_organization, db.session, org, actor=current_user, **_form_values(form)
        )
        if updated is not None:
            flash(_("Organization %(code)s saved.", code=updated.code), "success")
            return redirect(url_for("accounts.organization_detail", code=updated.code))
    return render_template("accounts/organization_form.html", form=form, org=org)


def _load_user(username: str) -> User:
    user = queries.user_by_username(db.session, username)
    if user is None:
        abort(404)
    return user


def _form_values(form: OrganizationForm) -> dict[str, str | None]:
    return {name: field.data for name, field in form._fields.items() if name != "csrf_token"}


# --- my account ------------------------------------------------------------------------------------------


@bp.route("/account", methods=["GET", "POST"])
@allow(ANY_SIGNED_IN)
def account() -> str | Response:
    """Profile: password change (local accounts) and API tokens."""
    password_form = PasswordChangeForm(prefix="pw")
    token_form = TokenForm(prefix="token")
    new_secret: str | None = None
    if password_form.submit_pressed() and password_form.validate_on_submit():
        done = run_form_operation(
            password_form, operations.change_password, db.session, current_user,
            current=password_form.current.data or "", new=password_form.new.data or "", actor=current_user,
            keep_session=session.get(SESSION_ID_KEY),
        )  # fmt: skip
        if done is not None:
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("accounts.account"))
    elif token_form.submit_pressed() and token_form.validate_on_submit():
        created = run_form_operation(
            token_form, operations.create_token, db.session, current_user, name=token_form.name.data or "",
            days=token_form.days.data or 0, read_only=bool(token_form.read_only.data), actor=current_user,
        )  # fmt: skip
        if created is not None:
            new_secret = created[1]
            token_form = TokenForm(prefix="token", formdata=None)
    return render_template(
        "accounts/account.html", password_form=password_form, token_form=token_form, new_secret=new_secret,
        tokens=queries.user_tokens(db.session, current_user), now=utcnow(),
    )  # fmt: skip


@bp.post("/account/tokens/<int(max=2147483647):token_id>/revoke")
@allow(ANY_SIGNED_IN)
def token_revoke(token_id: int) -> Response:
    token = db.session.get(ApiToken, token_id)
    is_admin = policy.can(current_user, Action.MANAGE_USERS)
    if token is None or (token.user_id != current_user.id and not is_admin):
        abort(404)
    operations.revoke_token(db.session, token, actor=current_user)
    flash(_("Token %(name)s revoked.", name=token.name), "success")
    if token.user_id != current_user.id:
        return redirect(url_for("accounts.user_detail", username=token.user.username))
    return redirect(url_for("accounts.account"))


# --- users (regulator administrators) --------------------------------------------------------------------


@bp.get("/users")
@allow(Action.MANAGE_USERS)
def user_list() -> str:
    q = request.args.get("q", "").strip()[:64]
    page = paginate(db.session, queries.user_list(q or None), page_number())
    return render_template("accounts/user_list.html", page=page, q=q)


@bp.get("/users/throttles")
@allow(Action.MANAGE_USERS)
def throttle_list() -> str:
    """Clients whose failed sign-ins are being slowed down, with a way to let one try again at once."""
    return render_template("accounts/throttles.html", throttles=queries.active_throttles(db.session, utcnow()))


@bp.post("/users/throttles/clear")
@allow(Action.MANAGE_USERS)
def throttle_clear() -> Response:
    account, client = request.form.get("account", "")[:64], request.form.get("client", "")[:80]
    operations.clear_throttle(db.session, account, client, actor=current_user)
    flash(_("%(account)s may sign in again from %(client)s.", account=account, client=client), "success")
    return redirect(url_for("accounts.throttle_list"))


@bp.post("/users/<username>/sessions/end")
@allow(Action.MANAGE_USERS)
def user_sessions_end(username: str) -> Response:
    user = _load_user(username)
    ended = operations.end_user_sessions(
        db.session, user, actor=current_user, reason=_l("%(n)d sessions ended by an administrator")
    )
    flash(_("%(n)d sessions of %(name)s ended.", n=ended, name=user.username), "success")
    return redirect(url_for("accounts.user_detail", username=user.username))


@bp.route("/users/new", methods=["GET", "POST"])
@allow(Action.MANAGE_USERS)
def user_create() -> str | Response:
    form = UserCreateForm()
    if form.validate_on_submit():
        created = run_form_operation(form, _create_user_from_form, form)
        if created is not None:
            flash(_("Account %(name)s created.", name=created.username), "success")
            return redirect(url_for("accounts.user_detail", username=created.username))
    return render_template("accounts/user_form.html", form=form)


def _create_user_from_form(form: UserCreateForm) -> User:
    org = queries.organization_for_field(db.session, form.organization.data, "organization")
    assert org is not None  # the field is required
    return operations.create_user(
        db.session, actor=current_user, username=form.username.data or "", organization=org, role=form.role.data or "",
        display_name=form.display_name.data or None, email=form.email.data or None, password=form.password.data,
    )  # fmt: skip


@bp.route("/users/<username>", methods=["GET", "POST"])
@allow(Action.MANAGE_USERS)
def user_detail(username: str) -> str | Response:
    user = _load_user(username)
    form = PasswordResetForm()
    if form.validate_on_submit() and run_form_operation(
        form, operations.reset_password, db.session, user, new=form.new.data or "", actor=current_user
    ):
        flash(_("The password of %(name)s has been reset.", name=user.username), "success")
        return redirect(url_for("accounts.user_detail", username=user.username))
    return render_template(
        "accounts/user_detail.html", user=user, form=form, tokens=queries.user_tokens(db.session, user),
        sessions=sessions.store().of_user(db.session, user.id),
        events=queries.object_history(db.session, "user", user.username), now=utcnow(),
    )  # fmt: skip


@bp.post("/users/<username>/active")
@allow(Action.MANAGE_USERS)
def user_set_active(username: str) -> Response:
    user = _load_user(username)
    active = request.form.get("active") == "1"
    try:
        operations.set_user_active(db.session, user, active=active, actor=current_user)
    except DomainError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("%(name)s reactivated.", name=user.username) if active else _("%(name)s deactivated.", name=user.username),
              "success")  # fmt: skip
    return redirect(url_for("accounts.user_detail", username=user.username))


# --- audit (regulator administrators) --------------------------------------------------------------------


def _audit_filter(form: AuditFilterForm) -> queries.AuditFilter:
    def day(value: date | None, shift: int = 0) -> datetime | None:
        if value is None or not 1900 <= value.year <= 2999:  # the ends of the calendar overflow in UTC
            return None
        return datetime.combine(value, datetime.min.time(), tzinfo=CHINA_TIME) + timedelta(days=shift)

    since, until = day(form.since.data), day(form.until.data, 1)
    return queries.AuditFilter(
        actor=form.actor.data or None, organization=form.organization.data or None,
        object_type=form.object_type.data or None, object_id=form.object_id.data or None,
        action=form.action.data or None, since=since, until=until,
    )  # fmt: skip


@bp.get("/audit")
@allow(Action.VIEW_AUDIT)
def audit_list() -> str:
    form = AuditFilterForm(request.args)
    flt = _audit_filter(form) if form.validate() else queries.AuditFilter()
    page = paginate(db.session, queries.audit_events(flt), page_number())
    return render_template("accounts/audit.html", form=form, page=page, lines=trail.lines(db.session, page.items))


@bp.get("/audit.csv")
@allow(Action.VIEW_AUDIT)
def audit_csv() -> Response:
    form = AuditFilterForm(request.args)
    flt = _audit_filter(form) if form.validate() else queries.AuditFilter()
    # Read inside the request (the session ends with it); the download then streams from memory.
    rows = [
        [e.occurred_at.isoformat(), e.actor_name, e.organization_id, e.action, e.object_type, e.object_id,
         json.dumps(e.changes, ensure_ascii=False), e.remote_addr, e.request_id, e.channel, e.summary_text]
        for e in db.session.scalars(queries.audit_events(flt).limit(AUDIT_EXPORT_LIMIT))
    ]  # fmt: skip
    return csv_response("audit.csv", AUDIT_COLUMNS, rows)


AUDIT_EXPORT_LIMIT = 100_000
AUDIT_COLUMNS = ["occurred_at", "actor", "organization_id", "action", "object_type", "object_id", "changes",
                 "remote_addr", "request_id", "channel", "summary"]  # fmt: skip
