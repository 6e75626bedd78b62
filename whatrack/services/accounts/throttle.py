"""Brute-force brakes on the login form (D8).

Failures count per account+IP pair: past ``LOGIN_MAX_FAILURES`` each further try from that
pair waits ``LOGIN_DELAY_SECONDS``, doubling per failure (capped at the window), so a guesser
slows to a crawl while the owner, from any other address, logs in as usual. An IP also stops
after 4 times as many failures across accounts (password spraying). A success clears its pair.

Race-free by construction: every try is inserted and committed *before* it counts the others
(``open_attempt``; the caller commits), so of N parallel tries the last to commit sees all N,
and no more than the limit get to check a password.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.models import LoginAttempt, utcnow

log = logging.getLogger(__name__)

IP_FACTOR = 4  # an office's staff share one address


class TooManyAttempts(WhaTrackError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def open_attempt(email: str, ip: str) -> LoginAttempt:
    """Record a try as a failure until proven otherwise; commit it before calling ``check``."""
    attempt = LoginAttempt(email=email[:254], ip=ip[:45], succeeded=False, throttled=False)
    db.session.add(attempt)
    db.session.flush()
    return attempt


def _failures(attempt: LoginAttempt, since: datetime):
    """Failed (or still undecided) tries other than ``attempt`` since ``since``."""
    return (
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.throttled.is_(False),
        LoginAttempt.id != attempt.id,
        LoginAttempt.created_at >= since,
    )


def check(attempt: LoginAttempt) -> None:
    """Raise TooManyAttempts (and mark the try ``throttled``) when it must wait."""
    config = current_app.config
    limit = config["LOGIN_MAX_FAILURES"]
    window = timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    now = utcnow()
    since = now - window

    ip_count, ip_oldest = db.session.execute(
        select(func.count(LoginAttempt.id), func.min(LoginAttempt.created_at))
        .where(LoginAttempt.ip == attempt.ip, *_failures(attempt, since))
    ).one()
    if ip_count >= limit * IP_FACTOR:
        _refuse(attempt, "ip", ip_oldest + window - now)

    last_success = db.session.scalar(
        select(func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == attempt.email, LoginAttempt.ip == attempt.ip,
            LoginAttempt.succeeded.is_(True), LoginAttempt.id != attempt.id,
        )
    )
    pair_since = max(since, last_success) if last_success else since
    pair_count, pair_last = db.session.execute(
        select(func.count(LoginAttempt.id), func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == attempt.email, LoginAttempt.ip == attempt.ip,
            *_failures(attempt, pair_since),
        )
    ).one()
    if pair_count >= limit:
        delay = timedelta(seconds=config["LOGIN_DELAY_SECONDS"] * 2 ** min(pair_count - limit, 30))
        wait = pair_last + min(delay, window) - now
        if wait > timedelta(0):
            _refuse(attempt, "account", wait)


def _refuse(attempt: LoginAttempt, scope: str, wait: timedelta) -> None:
    attempt.throttled = True
    db.session.flush()
    seconds = max(1, math.ceil(wait.total_seconds()))
    log.warning("login throttled (%s limit) for ip %s; retry in %ds", scope, attempt.ip, seconds)
    raise TooManyAttempts(_("Too many attempts. Please wait a few minutes."), retry_after=seconds)
