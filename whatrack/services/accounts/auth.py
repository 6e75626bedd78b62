"""Logging in safely: credential checks, throttling, password changes."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.models import LoginAttempt, User, utcnow
from whatrack.models.user import password_hash_method
from whatrack.services.accounts.orgs import (
    check_password_strength,
    find_user_by_email,
    normalize_email,
)

log = logging.getLogger(__name__)


class TooManyAttempts(WhaTrackError):
    status = 429
    code = "too_many_requests"


class InvalidCredentials(WhaTrackError):
    status = 401
    code = "invalid_credentials"


def _recent_failures(email: str, ip: str) -> tuple[int, int]:
    since = utcnow() - timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])
    base = select(func.count(LoginAttempt.id)).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.created_at >= since
    )
    by_email = db.session.scalar(base.where(LoginAttempt.email == email))
    by_ip = db.session.scalar(base.where(LoginAttempt.ip == ip))
    return by_email, by_ip


def authenticate(email: str, password: str, ip: str) -> User:
    """The user for these credentials, or one generic error; throttled per account and IP."""
    email = normalize_email(email)
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    by_email, by_ip = _recent_failures(email, ip)
    # An IP gets more room than one account: clinics share one office connection.
    if by_email >= limit or by_ip >= limit * 4:
        log.warning("login throttled for ip %s", ip)
        raise TooManyAttempts(_("Too many attempts. Please wait a few minutes."))
    user = find_user_by_email(email)
    if user is None:
        # Spend the same hash check on an unknown email, so the response time does not
        # reveal which emails have an account.
        check_password_hash(_dummy_hash(), password)
    ok = user is not None and user.check_password(password)
    db.session.add(LoginAttempt(email=email, ip=ip, succeeded=ok))
    if not ok:
        db.session.flush()
        raise InvalidCredentials(_("Invalid email or password."))
    user.last_login_at = utcnow()
    db.session.flush()
    return user


_dummy_hashes: dict[str, str] = {}


def _dummy_hash() -> str:
    method = password_hash_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _dummy_hashes[method]


def change_password(user: User, current: str, new: str) -> None:
    """Replace the password and end every other session of this user."""
    if not user.check_password(current):
        raise WhaTrackError(_("Current password is incorrect."), field="current_password")
    check_password_strength(new)
    user.set_password(new)
    user.session_version += 1
    db.session.flush()


def purge_login_attempts(older_than: timedelta = timedelta(days=7)) -> int:
    """Keep the throttle table small; called by the maintenance sweeper."""
    cutoff = utcnow() - older_than
    result = db.session.execute(
        LoginAttempt.__table__.delete().where(
            or_(LoginAttempt.created_at < cutoff, LoginAttempt.created_at.is_(None))
        )
    )
    return result.rowcount or 0
