"""Signup, login/logout, password change, invite acceptance and the org switcher."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
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
from whatrack.security import safe_next_url
from whatrack.services.accounts import auth as accounts
from whatrack.services.accounts import orgs
from whatrack.tenancy import SESSION_ORG_KEY, memberships_of


def _form_error(form, exc: WhaTrackError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def _start_session(user, org_id: int | None, remember: bool = False) -> None:
    lang = session.get(LANG_SESSION_KEY)
    session.clear()  # a fresh session on login: no fixation
    if lang:
        session[LANG_SESSION_KEY] = lang  # the language the person picked stays picked
    login_user(user, remember=remember)
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
        try:
            user = accounts.authenticate(form.email.data, form.password.data, _client_ip())
        except accounts.TooManyAttempts as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
            return render_template("auth/login.html", form=form), 429
        except accounts.InvalidCredentials as exc:
            db.session.commit()  # keep the failed attempt: it feeds the throttle
            form.form_errors.append(exc.message)
            return render_template("auth/login.html", form=form), 401
        db.session.commit()
        memberships = memberships_of(user)
        _start_session(user, memberships[0].organization_id if memberships else None,
                       remember=form.remember.data)
        return redirect(safe_next_url(form.next.data) or url_for("dashboard.home"))
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


def _client_ip() -> str:
    # Behind a proxy, ProxyFix (configured by the operator) rewrites remote_addr.
    return (request.remote_addr or "unknown")[:45]


@bp.post("/logout")
@login_required
def logout():
    lang = session.get(LANG_SESSION_KEY)
    session.clear()
    if lang:
        session[LANG_SESSION_KEY] = lang
    # After the clear: logout_user() leaves the "clear the remember-me cookie" mark in the
    # session, and a remembered browser would otherwise log straight back in.
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("public.landing"))


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
            # Re-issue the session with the new version. The real object, not the proxy:
            # Flask-Login stores what it gets, and a stored proxy resolves to itself forever.
            login_user(current_user._get_current_object())
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
