"""People who log in, their server-side sessions, and the login ledger that rate-limits them."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from whatrack.extensions import db
from whatrack.models.base import TimestampMixin, UTCDateTime
from whatrack.models.org import Membership


def password_hash_method() -> str:
    """scrypt unless configured otherwise (the test suite picks a cheap method for speed)."""
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if current_app else "scrypt"


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    locale: Mapped[str | None] = mapped_column(String(8))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=password_hash_method())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # The raw token of the UserSession this object was loaded for (not a column): Flask-Login
    # stores get_id() in the session cookie and the remember-me cookie alike, so both carry it.
    session_token = None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token or ''}"


class UserSession(TimestampMixin, db.Model):
    """One logged-in browser; deleting the row logs that browser out at its next request."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # SHA-256 of the random token in the cookie: a copy of the table opens no session.
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    remember: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class LoginAttempt(TimestampMixin, db.Model):
    """One login try; recent failures per email+IP pair and per IP throttle brute force.

    The row is written before the password is checked (still ``succeeded`` False), so
    parallel tries count each other; a try refused by the throttle is marked ``throttled``
    and does not count as a failure.
    """

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    ip: Mapped[str] = mapped_column(String(45), nullable=False, index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    throttled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
