"""Flask-Login wiring: users are loaded through their server-side session record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l

from whatrack.extensions import login_manager
from whatrack.models import User
from whatrack.services.accounts.sessions import load_session_user

if TYPE_CHECKING:
    from flask import Flask


def load_user(user_id: str) -> User | None:
    # "id:token" from the session or remember-me cookie; a deleted session row logs it out.
    return load_session_user(user_id)


def init_login(app: Flask) -> None:
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
