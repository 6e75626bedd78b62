"""Signup, login/logout, password change, invite acceptance and the org switcher."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user

from whatrack.blueprints.auth import bp
from whatrack.blueprints.auth.forms import (
    AcceptInviteForm,
    LoginForm,
    PasswordChangeForm,
    SignupForm,
)
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.i18n import LANG_SESSION_KEY
from whatrack.models import Organization
from whatrack.security import redirect_to_next, safe_next_url
from whatrack.services.accounts import auth as accounts
from whatrack.services.accounts import orgs, sessions
from whatrack.services.accounts import throttle as login_throttle
from whatrack.tenancy import SESSION_ORG_KEY, memberships_of


def _form_error(form, exc: WhaTrackError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def _start_session(user, org_id: int | None, remember: bool = False) -> None:
    """Record a server-side session (committed here) and put its id in the cookie."""
    sessions.start_session(user, remember=remember)
    db.session.commit()
    lang = session.get(LANG_SESSION_KEY)
    session.clear()  # a fresh session on login: no fixation
    if lang:
        session[LANG_SESSION_KEY] = lang  # the language the person picked stays picked
    login_user(user, remember=remember, duration=sessions.lifetime())
    if org_id is not None:
        session[SESSION_ORG_KEY] = org_id


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            result = orgs.sign_up(
                form.org_name.data, form.name.data, form.email.data, form.password.data
            )
        except WhaTrackError as exc:
            db.session.rollback()
            _form_error(form, exc)
        else:
            db.session.commit()
            _start_session(result.user, result.org.id)
            flash(_("Welcome! Your 14-day trial has started."), "success")
            return redirect(url_for("dashboard.home"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("auth/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next_url(request.args.get("next")) or ""
    if form.validate_on_submit():
        attempt = login_throttle.open_attempt(orgs.normalize_email(form.email.data), _client_ip())
        # Committed before it counts the others: parallel tries then see each other.
        db.session.commit()
        try:
            user = accounts.authenticate(attempt, form.password.data)
        except accounts.TooManyAttempts as exc:
            db.session.commit()  # keep the "throttled" mark: a refused try is no failure
            form.form_errors.append(exc.message)
            response = make_response(render_template("auth/login.html", form=form), 429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except accounts.InvalidCredentials as exc:
            db.session.commit()  # keep the failed attempt: it feeds the throttle
            form.form_errors.append(exc.message)
            return render_template("auth/login.html", form=form), 401
        db.session.commit()
        memberships = memberships_of(user)
        _start_session(user, memberships[0].organization_id if memberships else None,
                       remember=form.remember.data)
        return redirect_to_next(url_for("dashboard.home"), form.next.data or "")
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


def _client_ip() -> str:
    # Behind TRUSTED_PROXIES proxies, ProxyFix has already put the client's address here.
    return (request.remote_addr or "unknown")[:45]


@bp.post("/logout")
@login_required
def logout():
    # Server-side first: a copy of this session's cookie must stop working too.
    sessions.end_session(current_user._get_current_object())
    db.session.commit()
    _clear_session()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("public.landing"))


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    count = sessions.end_all_sessions(current_user._get_current_object())
    db.session.commit()
    _clear_session()
    flash(ngettext("You have been logged out of %(num)d device.",
                   "You have been logged out of %(num)d devices.", count), "info")
    return redirect(url_for("auth.login"))


def _clear_session() -> None:
    lang = session.get(LANG_SESSION_KEY)
    session.clear()
    if lang:
        session[LANG_SESSION_KEY] = lang
    # After the clear: logout_user() leaves the "clear the remember-me cookie" mark in the
    # session, and a remembered browser would otherwise log straight back in.
    logout_user()


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except WhaTrackError as exc:
            db.session.rollback()
            _form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Password changed. Other sessions were logged out."), "success")
            return redirect(url_for("dashboard.home"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("auth/password.html", form=form), status


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    invite = orgs.find_invite(token)
    if invite is None:
        abort(404)
    # Read before any rollback: a rollback expires the invite, and reloading it outside
    # unscoped() (no organization is bound for a newcomer) would be refused.
    org_name = invite_org_name(invite)
    form = AcceptInviteForm()
    if form.validate_on_submit():
        try:
            user = current_user if current_user.is_authenticated else orgs.create_user(
                form.email.data or "", form.password.data or "", form.name.data or ""
            )
            membership = orgs.accept_invite(token, user)
        except WhaTrackError as exc:
            db.session.rollback()
            _form_error(form, exc)
        else:
            db.session.commit()
            if current_user.is_authenticated:
                session[SESSION_ORG_KEY] = membership.organization_id
            else:
                _start_session(user, membership.organization_id)
            flash(_("You joined %(org)s.", org=membership.organization.name), "success")
            return redirect(url_for("dashboard.home"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("auth/invite.html", form=form, org_name=org_name), status


def invite_org_name(invite) -> str:
    org = db.session.get(Organization, invite.organization_id)
    return org.name if org else ""


@bp.post("/switch-org")
@login_required
def switch_org():
    wanted = request.form.get("org_id", type=int)
    if wanted not in {m.organization_id for m in memberships_of(current_user)}:
        abort(404)
    session[SESSION_ORG_KEY] = wanted
    return redirect(url_for("dashboard.home"))
