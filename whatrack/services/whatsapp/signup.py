"""Completing an Embedded Signup: the Graph calls after the popup, resumable step by step.

Used by the onboarding page and by ``flask whatsapp connect``. Each finished step is written
to the onboarding row and committed (through ``checkpoint``) before the next one starts, so a
retry resumes where the last attempt stopped and never repeats a finished step: the code
from Facebook can be exchanged only once, and registering a number counts against Meta's
10-per-72-hours limit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import or_, select, update

from whatrack.errors import ConflictError, ValidationError, WhaTrackError
from whatrack.extensions import db
from whatrack.integrations.meta.errors import (
    MetaError,
    MetaPermanentError,
    MetaTemporaryError,
    MetaTokenError,
)
from whatrack.integrations.meta.graph import exchange_signup_code
from whatrack.models import Organization, User, WhatsAppAccount, WhatsAppOnboarding, utcnow
from whatrack.services.whatsapp.accounts import attach_account
from whatrack.services.whatsapp.graph import GRAPH_TIMEOUT, client, require_app_credentials
from whatrack.services.whatsapp.health import apply_health, read_health
from whatrack.tenancy import unscoped

log = logging.getLogger(__name__)

STANDARD_STEPS = ("check_number", "exchange_code", "subscribe_app", "register_number",
                  "read_number", "save_account")
# Coexistence numbers are already registered by the Business app: never call register.
# The account is saved before the syncs so the history webhooks they start find it.
COEXISTENCE_STEPS = ("check_number", "exchange_code", "subscribe_app", "read_number",
                     "save_account", "sync_contacts", "sync_history")
STEP_LABELS = {
    "check_number": lazy_gettext("Check that the number is free"),
    "exchange_code": lazy_gettext("Receive access from Meta"),
    "subscribe_app": lazy_gettext("Receive the number's messages"),
    "register_number": lazy_gettext("Register the number on the Cloud API"),
    "read_number": lazy_gettext("Read the number's details"),
    "save_account": lazy_gettext("Save the number"),
    "sync_contacts": lazy_gettext("Import the WhatsApp Business app's contacts"),
    "sync_history": lazy_gettext("Import the chat history"),
}
# Reasons that only a new code from the Facebook window can fix.
RESTART_REASONS = frozenset({"code_expired", "code_used", "code_missing"})
LEASE = timedelta(minutes=2)
# Graph OAuth subcodes of the code exchange (meta-platform.md 1.4).
CODE_EXPIRED_SUBCODE = 36007
CODE_USED_SUBCODE = 36009
REGISTER_LIMIT_CODE = 133016


class StepFailure(Exception):
    """A step stopped for a reason of ours (not a Graph error)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason, self.detail = reason, detail


def steps_of(onboarding: WhatsAppOnboarding) -> tuple[str, ...]:
    return COEXISTENCE_STEPS if onboarding.coexistence else STANDARD_STEPS


# --- starting ---------------------------------------------------------------------------


def _graph_id(value: str | None, label: str, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationError(_("%(field)s is missing.", field=label))
        return None
    if not value.isdigit() or len(value) > 32:
        raise ValidationError(_("%(field)s must be a Meta id (digits only).", field=label))
    return value


def start(org: Organization, *, waba_id: str | None, phone_number_id: str | None,
          business_id: str | None = None, coexistence: bool = False, via: str = "web",
          user: User | None = None) -> WhatsAppOnboarding:
    """The unfinished onboarding of this number, or a new one (with its PIN chosen now,
    so a register that reached Meta before a timeout is retried with the same PIN)."""
    waba = _graph_id(waba_id, "WABA id")
    phone = _graph_id(phone_number_id, "phone_number_id", required=not coexistence)
    business = _graph_id(business_id, "business_id", required=False)
    stmt = (select(WhatsAppOnboarding)
            .where(WhatsAppOnboarding.organization_id == org.id,
                   WhatsAppOnboarding.waba_id == waba,
                   WhatsAppOnboarding.coexistence.is_(coexistence),
                   WhatsAppOnboarding.status != "connected")
            .order_by(WhatsAppOnboarding.id.desc()).limit(1))
    if phone:
        stmt = stmt.where(or_(WhatsAppOnboarding.phone_number_id == phone,
                              WhatsAppOnboarding.phone_number_id.is_(None)))
    onboarding = db.session.scalars(stmt).first()
    if onboarding is None:
        onboarding = WhatsAppOnboarding(organization_id=org.id, via=via, waba_id=waba,
                                        coexistence=coexistence, status="running", steps={},
                                        attempts=0, started_by_id=user.id if user else None)
        if not coexistence:
            onboarding.pin = _known_pin(org, phone) or f"{secrets.randbelow(10**6):06d}"
        db.session.add(onboarding)
    onboarding.phone_number_id = onboarding.phone_number_id or phone
    onboarding.business_id = business or onboarding.business_id
    db.session.flush()
    return onboarding


def _known_pin(org: Organization, phone_number_id: str | None) -> str | None:
    """The PIN an earlier signup gave this number: once set, Meta wants it again (133005)."""
    if not phone_number_id:
        return None
    earlier = db.session.scalars(
        select(WhatsAppOnboarding)
        .where(WhatsAppOnboarding.organization_id == org.id,
               WhatsAppOnboarding.phone_number_id == phone_number_id,
               WhatsAppOnboarding.pin_encrypted.is_not(None))
        .order_by(WhatsAppOnboarding.id.desc()).limit(1)).first()
    return earlier.pin if earlier else None


def connect(org: Organization, *, code: str | None, waba_id: str | None,
            phone_number_id: str | None, business_id: str | None = None,
            coexistence: bool = False, via: str = "web", user: User | None = None,
            checkpoint: Callable[[], None] = lambda: None) -> WhatsAppOnboarding:
    """Start (or resume) and run the completion; the onboarding says how it ended."""
    if code is not None and (not code.strip() or len(code) > 2048):
        raise ValidationError(_("The authorization code is empty or too long."))
    onboarding = start(org, waba_id=waba_id, phone_number_id=phone_number_id,
                       business_id=business_id, coexistence=coexistence, via=via, user=user)
    return complete(onboarding, code=code.strip() if code else None, checkpoint=checkpoint)


# --- running ----------------------------------------------------------------------------


def _claim(onboarding: WhatsAppOnboarding) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(WhatsAppOnboarding)
        .where(WhatsAppOnboarding.id == onboarding.id,
               or_(WhatsAppOnboarding.lease_until.is_(None),
                   WhatsAppOnboarding.lease_until < now))
        .values(lease_until=now + LEASE)
        .execution_options(synchronize_session=False))
    db.session.refresh(onboarding)
    return result.rowcount == 1


def complete(onboarding: WhatsAppOnboarding, *, code: str | None = None,
             checkpoint: Callable[[], None] = lambda: None) -> WhatsAppOnboarding:
    """Run the steps not done yet, in order, until one fails or the number is connected."""
    if onboarding.status == "connected":
        return onboarding
    if not _claim(onboarding):
        raise ConflictError(_("This connection is already being completed. Wait a moment "
                              "and reload the page."), code="onboarding_running")
    onboarding.attempts += 1
    onboarding.status = "running"
    _clear_error(onboarding)
    checkpoint()
    _run_steps(onboarding, code, checkpoint)
    onboarding.lease_until = None
    onboarding.updated_at = utcnow()
    db.session.flush()
    checkpoint()
    return onboarding


def _run_steps(onboarding: WhatsAppOnboarding, code: str | None,
               checkpoint: Callable[[], None]) -> None:
    for name in steps_of(onboarding):
        if onboarding.step_done(name):
            continue
        try:
            with db.session.begin_nested():
                facts = STEPS[name](onboarding, code) or {}
        except (MetaError, StepFailure, WhaTrackError) as exc:
            _record_failure(onboarding, name, exc)
            return
        _record_step(onboarding, name, "done", facts)
        checkpoint()
    onboarding.status, onboarding.completed_at = "connected", utcnow()
    onboarding.token = None  # the account holds it now
    log.info("whatsapp onboarding %s connected %s (organization %s, coexistence=%s)",
             onboarding.id, onboarding.phone_number_id, onboarding.organization_id,
             onboarding.coexistence)


def _record_step(onboarding: WhatsAppOnboarding, name: str, state: str,
                 facts: dict[str, Any] | None = None) -> None:
    steps = dict(onboarding.steps or {})  # a new dict, so the JSON column sees the change
    steps[name] = {**(facts or {}), "state": state, "at": utcnow().isoformat()}
    onboarding.steps = steps
    onboarding.updated_at = utcnow()
    db.session.flush()


def _clear_error(onboarding: WhatsAppOnboarding) -> None:
    onboarding.failed_step = onboarding.error_reason = onboarding.error_message = None
    onboarding.error_code = onboarding.error_subcode = onboarding.error_fbtrace_id = None


def _record_failure(onboarding: WhatsAppOnboarding, step: str, exc: Exception) -> None:
    onboarding.status, onboarding.failed_step = "failed", step
    onboarding.error_reason = failure_reason(step, exc)
    if isinstance(exc, MetaError):
        info = exc.info
        onboarding.error_message = (info.message or str(exc))[:2000]
        onboarding.error_code, onboarding.error_subcode = info.code, info.subcode
        onboarding.error_fbtrace_id = (info.fbtrace_id or "")[:64] or None
    elif isinstance(exc, WhaTrackError):
        onboarding.error_message = exc.message[:2000]
    else:
        onboarding.error_message = str(exc)[:2000]
    _record_step(onboarding, step, "failed")
    log.warning("whatsapp onboarding %s failed at %s (%s): code=%s fbtrace_id=%s %s",
                onboarding.id, step, onboarding.error_reason, onboarding.error_code,
                onboarding.error_fbtrace_id, onboarding.error_message)


def failure_reason(step: str, exc: Exception) -> str:
    """Our cause code for a failed step; decided by Meta's error code, never its text."""
    if isinstance(exc, StepFailure):
        return exc.reason
    if isinstance(exc, ConflictError):
        return "number_taken"
    if isinstance(exc, WhaTrackError):
        return "invalid"
    assert isinstance(exc, MetaError)
    code, subcode = exc.info.code, exc.info.subcode
    if step == "exchange_code" and subcode == CODE_EXPIRED_SUBCODE:
        return "code_expired"
    if step == "exchange_code" and subcode == CODE_USED_SUBCODE:
        return "code_used"
    if isinstance(exc, MetaTokenError):
        return "token"
    if isinstance(exc, MetaTemporaryError):
        return "unavailable"
    if code in (3, 10) or (isinstance(code, int) and 200 <= code <= 299):
        return "permission"
    if code == REGISTER_LIMIT_CODE:
        return "register_limit"
    return "graph"


# --- the steps ----------------------------------------------------------------------------


def _org(onboarding: WhatsAppOnboarding) -> Organization:
    return db.session.get(Organization, onboarding.organization_id)


def _ensure_number_free(onboarding: WhatsAppOnboarding, phone_number_id: str) -> None:
    with unscoped():
        owner = db.session.scalars(
            select(WhatsAppAccount.organization_id)
            .where(WhatsAppAccount.phone_number_id == phone_number_id)).first()
    if owner is not None and owner != onboarding.organization_id:
        raise StepFailure("number_taken")


def _check_number(onboarding: WhatsAppOnboarding, code: str | None) -> dict[str, Any]:
    if onboarding.phone_number_id:  # coexistence may learn it only after the exchange
        _ensure_number_free(onboarding, onboarding.phone_number_id)
    return {}


def _exchange_code(onboarding: WhatsAppOnboarding, code: str | None) -> dict[str, Any]:
    if not code:
        raise StepFailure("code_missing")
    app_id, app_secret = require_app_credentials()
    cfg = current_app.config
    data = exchange_signup_code(cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"], app_id,
                                app_secret, code, timeout=GRAPH_TIMEOUT)
    onboarding.token = data["access_token"]
    try:  # absent from some answers (meta-platform.md 1.4, UNCERTAIN)
        seconds = int(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        seconds = 0
    onboarding.token_expires_at = utcnow() + timedelta(seconds=seconds) if seconds > 0 else None
    return {}


def _token(onboarding: WhatsAppOnboarding) -> str:
    token = onboarding.token
    if not token:  # a disconnect forgot it while the onboarding was unfinished
        raise StepFailure("code_missing")
    return token


def _subscribe_app(onboarding: WhatsAppOnboarding, code: str | None) -> dict[str, Any]:
    if not client(_token(onboarding)).subscribe_app(onboarding.waba_id):
        raise StepFailure("graph", "subscribed_apps did not answer success")
    return {}


def _register_number(onboarding: WhatsAppOnboarding, code: str | None) -> dict[str, Any]:
    assert not onboarding.coexistence, "coexistence numbers are never registered"
    if not onboarding.pin:
        onboarding.pin = f"{secrets.randbelow(10**6):06d}"
    if not client(_token(onboarding)).register_number(onboarding.phone_number_id,
                                                       onboarding.pin):
        raise StepFailure("graph", "register did not answer success")
    return {}


def _pick_coexistence_number(onboarding: WhatsAppOnboarding) -> str:
    """FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING may carry only the WABA id (reference 1.3)."""
    numbers = client(_token(onboarding)).list_waba_phone_numbers(onboarding.waba_id)
    on_app = [n for n in numbers if n.is_on_biz_app] or numbers
    if len(on_app) != 1:
        raise StepFailure("number_missing")
    return on_app[0].id


def _read_number(onboarding: WhatsAppOnboarding, code: str | None) -> dict[str, Any]:
    if not onboarding.phone_number_id:
        onboarding.phone_number_id = _pick_coexistence_number(onboarding)
        _ensure_number_free(onboarding, onboarding.phone_number_id)
    facts = read_health(client(_token(onboarding)), onboarding.phone_number_id)
    if not facts.get("display_phone_number"):
        raise StepFailure("graph", "the number has no display_phone_number")
    if onboarding.coexistence and facts.get("is_on_biz_app") is False:
        log.warning("onboarding %s: Meta says number %s is not on the Business app",
                    onboarding.id, onboarding.phone_number_id)
    return facts


def _save_account(onboarding: WhatsAppOnboarding, code: str | None) -> dict[str, Any]:
    facts = (onboarding.steps or {}).get("read_number") or {}
    account = attach_account(
        _org(onboarding), waba_id=onboarding.waba_id,
        phone_number_id=onboarding.phone_number_id,
        display_phone_number=facts.get("display_phone_number") or "",
        token=_token(onboarding), verified_name=facts.get("verified_name"),
        business_id=onboarding.business_id, coexistence=onboarding.coexistence)
    apply_health(account, facts)
    account.token_invalid_at = None
    onboarding.whatsapp_account_id = account.id
    db.session.flush()
    return {"account_id": account.id}


def _sync(sync_type: str) -> Callable[[WhatsAppOnboarding, str | None], dict[str, Any]]:
    def run(onboarding: WhatsAppOnboarding, code: str | None) -> dict[str, Any]:
        request_id = client(_token(onboarding)).request_smb_sync(onboarding.phone_number_id,
                                                                  sync_type)
        return {"request_id": request_id}  # Meta support asks for it
    return run


STEPS: dict[str, Callable[[WhatsAppOnboarding, str | None], dict[str, Any]]] = {
    "check_number": _check_number,
    "exchange_code": _exchange_code,
    "subscribe_app": _subscribe_app,
    "register_number": _register_number,
    "read_number": _read_number,
    "save_account": _save_account,
    "sync_contacts": _sync("smb_app_state_sync"),
    "sync_history": _sync("history"),
}


# --- describing ---------------------------------------------------------------------------


def failure_message(onboarding: WhatsAppOnboarding) -> str | None:
    """The cause in the person's language; Meta's own words go in the technical details."""
    reason = onboarding.error_reason
    if reason is None:
        return None
    messages = {
        "code_expired": _("The authorization from Facebook expired or was already used. "
                          "Click \u201cConnect WhatsApp\u201d to open the Facebook window again."),
        "code_missing": _("The authorization from Facebook expired or was already used. "
                          "Click \u201cConnect WhatsApp\u201d to open the Facebook window again."),
        "permission": _("Meta refused for lack of permission. In the Facebook window, keep "
                        "every permission asked for (managing and messaging the WhatsApp "
                        "account)."),
        "number_taken": _("This number is already connected to another organization in "
                          "WhaTrack. Disconnect it there first, or talk to our support."),
        "number_missing": _("Meta did not tell us which number to connect. Open the "
                            "Facebook window again and choose the number."),
        "token": _("Meta no longer accepts the access it gave us. Connect WhatsApp again."),
        "register_limit": _("Meta blocked new registrations of this number for 72 hours "
                            "(too many attempts). Try again after that."),
        "unavailable": _("Meta could not be reached or asked us to wait. Try again in a "
                         "few minutes."),
        "graph": _("Meta refused this step: %(message)s",
                   message=onboarding.error_message or "?"),
        "invalid": onboarding.error_message or "?",
    }
    messages["code_used"] = messages["code_expired"]
    return messages.get(reason, messages["graph"])


def describe(onboarding: WhatsAppOnboarding) -> dict[str, Any]:
    """JSON-ready state for the page (and the CLI): steps, outcome, failure."""
    steps = onboarding.steps or {}
    error = None
    if onboarding.status == "failed":
        error = {"step": onboarding.failed_step,
                 "step_label": str(STEP_LABELS.get(onboarding.failed_step or "", "")),
                 "reason": onboarding.error_reason, "message": failure_message(onboarding),
                 "meta_message": onboarding.error_message if onboarding.error_code is not None
                 or onboarding.error_reason == "graph" else None,
                 "code": onboarding.error_code, "subcode": onboarding.error_subcode,
                 "fbtrace_id": onboarding.error_fbtrace_id,
                 "restart_required": onboarding.error_reason in RESTART_REASONS}
    return {
        "id": onboarding.id, "status": onboarding.status, "coexistence": onboarding.coexistence,
        "waba_id": onboarding.waba_id, "phone_number_id": onboarding.phone_number_id,
        "display_phone_number": (steps.get("read_number") or {}).get("display_phone_number"),
        "steps": [{"name": name, "label": str(STEP_LABELS[name]),
                   "state": steps.get(name, {}).get("state", "pending")}
                  for name in steps_of(onboarding)],
        "error": error,
    }


def latest_onboarding(org: Organization) -> WhatsAppOnboarding | None:
    """The most recent unfinished onboarding, to offer "Try again" after a reload."""
    return db.session.scalars(
        select(WhatsAppOnboarding)
        .where(WhatsAppOnboarding.organization_id == org.id,
               WhatsAppOnboarding.status != "connected")
        .order_by(WhatsAppOnboarding.id.desc()).limit(1)).first()


# --- disconnecting ------------------------------------------------------------------------


def disconnect(org: Organization, account: WhatsAppAccount) -> WhatsAppAccount:
    """Stop Meta's webhooks for the WABA (unless another of our numbers uses it) and forget
    the token. The number and its conversations stay; a new signup reconnects it."""
    token = account.token
    shares_waba = db.session.scalars(
        select(WhatsAppAccount.id).where(WhatsAppAccount.organization_id == org.id,
                                         WhatsAppAccount.waba_id == account.waba_id,
                                         WhatsAppAccount.id != account.id,
                                         WhatsAppAccount.status == "connected",
                                         WhatsAppAccount.token_encrypted.is_not(None))).first()
    if token and shares_waba is None:
        try:
            client(token).unsubscribe_app(account.waba_id)
        except MetaTokenError:
            log.info("token of %s already refused; forgetting it", account.phone_number_id)
        except MetaTemporaryError as exc:
            raise WhaTrackError(_("Meta could not be reached, so nothing changed. Try again "
                                  "in a few minutes.")) from exc
        except MetaPermanentError as exc:
            log.warning("unsubscribing WABA %s failed (%s); forgetting the token anyway",
                        account.waba_id, exc)
    account.token = None
    account.status = "disconnected"
    db.session.flush()
    log.info("whatsapp number %s disconnected by organization %s", account.phone_number_id,
             org.id)
    return account
