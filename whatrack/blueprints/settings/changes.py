"""One settings form post: check the form, apply the change, say how it went, go back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, url_for
from flask_babel import gettext as _

from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.errors import NotFound, WhaTrackError
from whatrack.extensions import db


def apply_change(change: Callable[[], Any], success: str, back_to: str) -> Any:
    """Commit ``change()`` and flash ``success``, or roll back and flash its error; then
    redirect to the ``back_to`` endpoint. Another organization's row stays a 404."""
    if not EmptyForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for(back_to))
    try:
        change()
    except NotFound:
        raise
    except WhaTrackError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for(back_to))
