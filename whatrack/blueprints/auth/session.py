"""Flask-Login wiring: users are loaded by id and session version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l

from whatrack.extensions import db, login_manager
from whatrack.models import User

if TYPE_CHECKING:
    from flask import Flask


def load_user(user_id: str) -> User | None:
    # "id:version": a password change bumps the version and logs out every other session.
    ident, _sep, version = user_id.partition(":")
    try:
        user = db.session.get(User, int(ident))
    except ValueError:
        return None
    if user is None or str(user.session_version) != version:
        return None
    return user


def init_login(app: Flask) -> None:
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
