"""Server-side login sessions: one row per logged-in browser, so logging out really ends it.

The browser holds ``"<user id>:<random token>"`` (Flask-Login's user id, in the signed session
cookie and in the remember-me cookie); the table holds the token's SHA-256. A session is live
while its row exists and has not expired; logout, "log out everywhere" and a password change
delete rows, and an open websocket re-checks the same thing on its heartbeat.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, exists, select

from whatrack.extensions import db
from whatrack.models import Membership, User, UserSession, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime() -> timedelta:
    """How long a login lasts at most, remembered or not (``REMEMBER_COOKIE_DAYS``)."""
    return current_app.config["REMEMBER_COOKIE_DURATION"]


def start_session(user: User, remember: bool = False) -> str:
    """Record a new session for ``user``; its token becomes part of ``user.get_id()``."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(
        user_id=user.id, token_hash=_hash(token), remember=remember,
        expires_at=utcnow() + lifetime(),
    ))
    db.session.flush()
    user.session_token = token
    return token


def _live_session(user_id: int, token: str):
    return select(UserSession.id).where(
        UserSession.token_hash == _hash(token),
        UserSession.user_id == user_id,
        UserSession.expires_at > utcnow(),
    )


def parse_session_id(session_id: str) -> tuple[int, str] | None:
    """``"<user id>:<token>"`` as stored by Flask-Login, or None when malformed."""
    ident, _sep, token = (session_id or "").partition(":")
    if not token or not ident.isdigit() or len(ident) > 12:
        return None
    return int(ident), token


def load_session_user(session_id: str) -> User | None:
    """The user of a live session, or None (logged out, expired, unknown, malformed)."""
    parsed = parse_session_id(session_id)
    if parsed is None:
        return None
    user_id, token = parsed
    # One statement for the session check and the user: every dashboard request pays it.
    user = db.session.scalar(select(User).where(User.id == user_id,
                                                _live_session(user_id, token).exists()))
    if user is not None:
        user.session_token = token
    return user


def session_is_live(user_id: int, token: str | None) -> bool:
    return bool(token) and db.session.scalar(_live_session(user_id, token)) is not None


def has_access(user_id: int, token: str | None, org_id: int) -> bool:
    """Still logged in with this session, and still a member of ``org_id`` (socket re-check)."""
    if not session_is_live(user_id, token):
        return False
    member = exists().where(Membership.user_id == user_id, Membership.organization_id == org_id)
    return bool(db.session.scalar(select(member)))


def end_session(user: User) -> None:
    """Log out the session ``user`` was loaded for (its cookie stops working anywhere)."""
    if user.session_token:
        db.session.execute(delete(UserSession).where(
            UserSession.token_hash == _hash(user.session_token)))
        db.session.flush()


def end_all_sessions(user: User, keep_current: bool = False) -> int:
    """Log out every browser of ``user`` (but this one with ``keep_current``); returns how many."""
    stmt = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_current and user.session_token:
        stmt = stmt.where(UserSession.token_hash != _hash(user.session_token))
    result = db.session.execute(stmt)
    db.session.flush()
    return result.rowcount or 0


def purge_expired_sessions() -> int:
    """Drop sessions past their lifetime; called by the maintenance sweeper."""
    result = db.session.execute(delete(UserSession).where(UserSession.expires_at <= utcnow()))
    return result.rowcount or 0
