"""Read-only organizations: the ONE check that refuses every change, page or API.

An expired trial, a grace period that ran out, or a canceled subscription leaves every page
readable and refuses every request that could change data (any method but GET, HEAD and
OPTIONS) with 402 and a pt-BR explanation that links to the billing page. The check runs
before every view (for the API, right after the key is authenticated), so a route added
later is guarded without doing anything; the only exceptions are listed below with the
reason, and tests/integration/test_billing_read_only.py walks the URL map to prove it.
"""

from __future__ import annotations

from flask import g, render_template, request
from flask_babel import gettext as _

from whatrack.blueprints.billing import bp
from whatrack.errors import error_response, wants_json
from whatrack.services.billing.state import billing_summary, effective_state, is_read_only
from whatrack.tenancy import MACHINE_BLUEPRINTS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# endpoint -> why it must keep working while the organization is read-only.
ALLOWED_WHEN_READ_ONLY: dict[str, str] = {
    "billing.checkout": "paying is how a read-only organization gets out of it",
    "billing.portal": "fixing the card is how a past-due organization gets out of it",
    "auth.logout": "leaving is always possible",
    "auth.logout_everywhere": "signing a stolen device out must always work",
    "auth.login": "logging in names no organization's data",
    "auth.signup": "creates a new organization with its own trial",
    "auth.switch_org": "another organization of the same person may be paid",
    "auth.change_password": "a person's own password, not the organization's data",
    "auth.accept_invite": "joins the inviting organization, which is checked on its own",
    "settings.revoke_api_key": "taking access away must work even when nobody pays",
    "settings.remove_member": "taking access away must work even when nobody pays",
    "settings.revoke_invite": "taking access away must work even when nobody pays",
    "data_deletion.callback": "Meta's signed callback: a machine, no organization session",
}


def payment_required_response():
    message = _("Your organization's trial or subscription has ended, so the dashboard is "
                "read-only: you can see everything, but changes are paused until the plan "
                "is paid. Incoming WhatsApp messages are still recorded.")
    if wants_json():
        return error_response(402, "payment_required", message,
                              billing_state=effective_state(g.current_org))
    return render_template("billing/read_only.html", message=message,
                           billing=billing_summary(g.current_org)), 402


def refuse_if_read_only():
    """A 402 response when this request would change a read-only organization's data."""
    if request.method in SAFE_METHODS or request.endpoint in ALLOWED_WHEN_READ_ONLY:
        return None
    if request.blueprint in MACHINE_BLUEPRINTS:
        return None  # Meta's and Stripe's deliveries are stored in every state
    org = g.get("current_org")
    if org is None or not is_read_only(org):
        return None
    return payment_required_response()


@bp.before_app_request
def refuse_session_writes_when_read_only():
    # API requests are checked by the API's own before_request, after the key names the
    # organization (the session's organization, if a cookie came along, is not the one).
    if request.blueprint == "api":
        return None
    return refuse_if_read_only()


@bp.app_context_processor
def inject_billing_status() -> dict[str, object]:
    def billing_status():
        org = g.get("current_org")
        return billing_summary(org) if org is not None else None

    return {"billing_status": billing_status}
