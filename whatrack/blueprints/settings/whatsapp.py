"""/dashboard/settings/whatsapp: Embedded Signup, the connected numbers, their health."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from whatrack.blueprints.settings import bp
from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.errors import ValidationError, WhaTrackError
from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaError
from whatrack.models import WhatsAppAccount, WhatsAppOnboarding
from whatrack.security import CSP
from whatrack.services.whatsapp import health, signup
from whatrack.services.whatsapp.accounts import list_accounts
from whatrack.services.whatsapp.graph import signup_configured
from whatrack.tenancy import current_org, role_required

log = logging.getLogger(__name__)

# Embedded Signup posts its session messages from these pages (meta-platform.md 1.3); an
# exact list, since "ends with facebook.com" would also trust evilfacebook.com.
META_ORIGINS = ("https://www.facebook.com", "https://web.facebook.com",
                "https://business.facebook.com")
FACEBOOK_SDK_ORIGIN = "https://connect.facebook.net"
FINISH_EVENTS = {"FINISH": False, "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING": True}


def _sdk_origin() -> str:
    parts = urlsplit(current_app.config["META_SDK_URL"])
    return f"{parts.scheme}://{parts.netloc}"


def _page_csp() -> str:
    """The site CSP with the configured SDK's origin allowed to load scripts."""
    origin = _sdk_origin()
    if origin == FACEBOOK_SDK_ORIGIN:
        return CSP
    return CSP.replace(FACEBOOK_SDK_ORIGIN, f"{FACEBOOK_SDK_ORIGIN} {origin}", 1)


def _message_origins() -> list[str]:
    origins = list(META_ORIGINS)
    if _sdk_origin() != FACEBOOK_SDK_ORIGIN:
        origins.append(_sdk_origin())  # a test double of the SDK posts from its own origin
    return origins


@bp.get("/whatsapp")
@role_required("admin")
def whatsapp():
    cfg = current_app.config
    latest = signup.latest_onboarding(current_org)
    shown = latest if latest and latest.status == "failed" else None
    connected_id = request.args.get("connected", type=int)
    if connected_id:  # the page reloads after a signup to list the new number
        done = WhatsAppOnboarding.get_for_org(connected_id, current_org)
        shown = done if done and done.status == "connected" else shown
    signup_js = None
    if signup_configured():
        signup_js = {
            "appId": cfg["META_APP_ID"], "configId": cfg["META_CONFIG_ID"],
            "sdkUrl": cfg["META_SDK_URL"], "graphVersion": cfg["META_GRAPH_VERSION"],
            "origins": _message_origins(),
            "startUrl": url_for("settings.whatsapp_onboard"),
            "retryUrl": url_for("settings.whatsapp_retry", onboarding_id=0),
            "eventUrl": url_for("settings.whatsapp_signup_event"),
            "pageUrl": url_for("settings.whatsapp"),
            "latest": signup.describe(shown) if shown else None,
        }
    response = current_app.make_response(render_template(
        "settings/whatsapp.html", accounts=list_accounts(current_org),
        signup_js=json.dumps(signup_js) if signup_js else None, action_form=EmptyForm()))
    response.headers["Content-Security-Policy"] = _page_csp()
    return response


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError(_("Send a JSON object."))
    return body


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(_("%(field)s must be text.", field=key))
    return str(value)


@bp.post("/whatsapp/onboardings")
@role_required("admin")
def whatsapp_onboard():
    """The page posts the code and the ids of a finished Embedded Signup."""
    body = _json_body()
    event = _text(body, "event") or "FINISH"
    if event not in FINISH_EVENTS:
        raise ValidationError(_("Unknown signup event."))
    if not signup_configured():
        raise ValidationError(_("Connecting WhatsApp is not available on this server yet."))
    onboarding = signup.connect(
        current_org, code=_text(body, "code") or "", waba_id=_text(body, "waba_id"),
        phone_number_id=_text(body, "phone_number_id"),
        business_id=_text(body, "business_id"), coexistence=FINISH_EVENTS[event], via="web",
        user=current_user, checkpoint=db.session.commit)
    db.session.commit()
    return jsonify(signup.describe(onboarding))


@bp.post("/whatsapp/onboardings/<int:onboarding_id>/retry")
@role_required("admin")
def whatsapp_retry(onboarding_id: int):
    onboarding = WhatsAppOnboarding.get_for_org_or_404(onboarding_id, current_org)
    body = request.get_json(silent=True)
    code = _text(body, "code") if isinstance(body, dict) else None
    onboarding = signup.complete(onboarding, code=code, checkpoint=db.session.commit)
    db.session.commit()
    return jsonify(signup.describe(onboarding))


@bp.post("/whatsapp/signup-events")
@role_required("admin")
def whatsapp_signup_event():
    """CANCEL / ERROR from the Facebook window: logged, since it shows where people give up
    and Meta support asks for the session id."""
    body = _json_body()
    fields = {key: (_text(body, key) or "")[:200] for key in (
        "event", "current_step", "error_message", "error_code", "session_id", "timestamp")}
    log.info("embedded signup %s in organization %s: step=%s error=%s %s session=%s",
             fields["event"] or "?", current_org.id, fields["current_step"] or "-",
             fields["error_code"] or "-", fields["error_message"] or "-",
             fields["session_id"] or "-")
    return "", 204


def _account_or_404(account_id: int) -> WhatsAppAccount:
    if not EmptyForm().validate_on_submit():
        abort(400)
    return WhatsAppAccount.get_for_org_or_404(account_id, current_org)


@bp.post("/whatsapp/<int:account_id>/disconnect")
@role_required("admin")
def whatsapp_disconnect(account_id: int):
    account = _account_or_404(account_id)
    try:
        signup.disconnect(current_org, account)
    except WhaTrackError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("Number disconnected. WhaTrack no longer receives or sends its messages."),
              "info")
    return redirect(url_for("settings.whatsapp"))


@bp.post("/whatsapp/<int:account_id>/health")
@role_required("admin")
def whatsapp_refresh_health(account_id: int):
    account = _account_or_404(account_id)
    try:
        ok = health.refresh_health(account)
    except MetaError as exc:
        db.session.rollback()
        flash(_("Meta could not be reached: %(error)s", error=str(exc)), "error")
    else:
        db.session.commit()
        if ok:
            flash(_("Number health updated."), "info")
        else:
            flash(_("Meta no longer accepts this number's access: reconnect it."), "error")
    return redirect(url_for("settings.whatsapp"))
