"""/dashboard/capi: the Conversions API audit log (proof that Meta received every sale)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from whatrack.blueprints.capi import bp
from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.integrations.meta.capi import BUSINESS_MESSAGING_EVENTS
from whatrack.integrations.meta.capi import dumps as exact_json
from whatrack.models import MetaConversionEvent, utcnow
from whatrack.models.conversions import EVENT_STATUSES
from whatrack.services.conversions import commands as conversions
from whatrack.services.conversions import queries as conversions_query
from whatrack.services.meta import connection as meta_connection
from whatrack.tenancy import current_org, org_required, role_required

DEFAULT_DAYS = 30


@bp.app_template_global()
def capi_reason(event: MetaConversionEvent) -> str | None:
    """Why an event is waiting, failed or skipped, in the page's language."""
    return conversions_query.reason_text(event)


@bp.app_template_global()
def capi_reason_code(code: str) -> str:
    return str(conversions_query.REASONS.get(code, code))


@bp.app_template_global()
def meta_token_warning():
    """The organization's Meta connection when its token needs a person (layout banner)."""
    return meta_connection.expiry_warning(current_org) if current_org else None


def _filter():
    """The page's filter; bad values are dropped (and said), never a 500."""
    args = request.args.to_dict()
    if "from" not in args and "to" not in args:
        args["from"] = (utcnow() - timedelta(days=DEFAULT_DAYS)).date().isoformat()
    audit_filter, errors = conversions_query.parse_filter(args)
    for message in errors.values():
        flash(message, "error")
    return audit_filter


@bp.get("")
@org_required
def index():
    audit_filter = _filter()
    try:
        page = conversions_query.list_events(current_org, audit_filter,
                                             cursor=request.args.get("cursor"))
    except WhaTrackError:
        page = conversions_query.list_events(current_org, audit_filter)
    return render_template(
        "capi/index.html", page=page, counts=conversions_query.status_counts(current_org,
                                                                             audit_filter),
        f=audit_filter, statuses=EVENT_STATUSES, event_names=BUSINESS_MESSAGING_EVENTS,
        waiting=conversions.waiting_reason(conversions.connection_of(current_org)),
        pending=conversions_query.pending_count(current_org),
        action_form=EmptyForm())


@bp.get("/export.csv")
@role_required("admin")
def export():
    audit_filter = _filter()
    # Built inside the request: the rows are read while the organization is bound.
    body = "".join(conversions_query.csv_rows(current_org, audit_filter))
    filename = f"capi-{current_org.slug}-{utcnow():%Y%m%d-%H%M}.csv"
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _pretty(text: str | None) -> str | None:
    """Indented JSON with numbers exactly as sent (1234.56 stays 1234.56, never a float)."""
    if not text:
        return None
    try:
        return exact_json(json.loads(text, parse_float=Decimal), indent=2)
    except ValueError:
        return text


@bp.get("/<int:event_id>")
@org_required
def detail(event_id: int):
    event = MetaConversionEvent.get_for_org_or_404(event_id, current_org)
    attempts = event.attempt_log.all()
    return render_template("capi/event.html", event=event, attempts=attempts,
                           payload=_pretty(event.payload), response=_pretty(event.response_body),
                           pretty=_pretty, action_form=EmptyForm())


@bp.post("/<int:event_id>/resend")
@role_required("admin")
def resend(event_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    event = conversions.lock_event(current_org, event_id)
    if event is None:
        abort(404)
    try:
        conversions.resend_event(current_org, event)
    except WhaTrackError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("Event queued again with the same event_id (Meta deduplicates it)."), "success")
    target = request.form.get("next")
    if target == "list":
        return redirect(url_for("capi.index"))
    return redirect(url_for("capi.detail", event_id=event_id))
