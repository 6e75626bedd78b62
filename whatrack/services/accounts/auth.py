"""Logging in safely: credential checks, throttling, password changes."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import or_
from werkzeug.security import check_password_hash, generate_password_hash

from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.models import LoginAttempt, User, utcnow
from whatrack.models.user import password_hash_method
from whatrack.services.accounts import throttle as login_throttle
from whatrack.services.accounts.orgs import (
    check_password_strength,
    find_user_by_email,
)
from whatrack.services.accounts.sessions import end_all_sessions
from whatrack.services.accounts.throttle import TooManyAttempts

log = logging.getLogger(__name__)

__all__ = ["InvalidCredentials", "TooManyAttempts", "authenticate", "change_password"]


class InvalidCredentials(WhaTrackError):
    status = 401
    code = "invalid_credentials"


def authenticate(attempt: LoginAttempt, password: str) -> User:
    """The user for this (already recorded and committed) try, or one generic error.

    ``attempt`` comes from ``login_throttle.open_attempt``; the throttle may refuse it first.
    """
    login_throttle.check(attempt)
    user = find_user_by_email(attempt.email)
    if user is None:
        # Spend the same hash check on an unknown email, so the response time does not
        # reveal which emails have an account.
        check_password_hash(_dummy_hash(), password)
    if user is None or not user.check_password(password):
        raise InvalidCredentials(_("Invalid email or password."))
    attempt.succeeded = True
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
    end_all_sessions(user, keep_current=True)


def purge_login_attempts(older_than: timedelta = timedelta(days=7)) -> int:
    """Keep the throttle table small; called by the maintenance sweeper."""
    cutoff = utcnow() - older_than
    result = db.session.execute(
        LoginAttempt.__table__.delete().where(
            or_(LoginAttempt.created_at < cutoff, LoginAttempt.created_at.is_(None))
        )
    )
    return result.rowcount or 0
