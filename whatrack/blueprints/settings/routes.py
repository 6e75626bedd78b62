"""Organization settings: team, invites, API keys, and what is not configured yet."""

from __future__ import annotations

import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from whatrack.blueprints.settings import bp
from whatrack.blueprints.settings.forms import (
    ROLE_LABELS,
    ApiKeyForm,
    EmptyForm,
    InviteForm,
    RoleForm,
)
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.models import ApiKey, Invite
from whatrack.services.accounts import apikeys, orgs
from whatrack.services.reports.setup import setup_progress
from whatrack.services.webhooks import commands as webhooks
from whatrack.tenancy import ROLE_RANK, current_org, current_role, org_required, role_required


def feature_status() -> dict[str, bool]:
    """Which integrations have their secrets; a missing one is shown, never crashes."""
    cfg = current_app.config
    return {
        "whatsapp": bool(cfg.get("META_APP_SECRET") and cfg.get("META_VERIFY_TOKEN")),
        "facebook_login": bool(cfg.get("META_APP_ID") and cfg.get("META_APP_SECRET")),
        "stripe": bool(cfg.get("STRIPE_SECRET_KEY") and cfg.get("STRIPE_PRICE_ID")),
        "llm": bool(cfg.get("LLM_BASE_URL")),
    }


@bp.get("", strict_slashes=False)
@org_required
def index():
    return render_template("settings/index.html", setup=setup_progress(current_org))


@bp.get("/team")
@org_required
def team():
    can_manage = ROLE_RANK.get(current_role() or "", 0) >= ROLE_RANK["admin"]
    return render_template(
        "settings/team.html",
        members=orgs.list_members(current_org),
        invites=orgs.pending_invites(current_org) if can_manage else [],
        invite_form=InviteForm(),
        role_form=RoleForm(),
        role_labels=ROLE_LABELS,
        action_form=EmptyForm(),
        can_manage=can_manage,
        is_owner=current_role() == "owner",
    )


@bp.post("/team/invites")
@role_required("admin")
def create_invite():
    form = InviteForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("settings.team"))
    if form.role.data == "owner" and current_role() != "owner":
        abort(403)
    issued = orgs.invite_member(current_org, current_user, form.role.data, form.email.data)
    db.session.commit()
    link = url_for("auth.accept_invite", token=issued.token, _external=True)
    return render_template("settings/invite_created.html", link=link, invite=issued.invite)


@bp.post("/team/invites/<int:invite_id>/revoke")
@role_required("admin")
def revoke_invite(invite_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    orgs.revoke_invite(current_org, Invite.get_for_org_or_404(invite_id, current_org))
    db.session.commit()
    flash(_("Invite revoked."), "info")
    return redirect(url_for("settings.team"))


@bp.post("/team/members/<int:membership_id>/role")
@role_required("owner")
def change_role(membership_id: int):
    form = RoleForm()
    membership = orgs.get_membership_or_404(current_org, membership_id)
    if not form.validate_on_submit():
        abort(400)
    try:
        orgs.change_role(current_org, membership, form.role.data)
    except WhaTrackError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("Role updated."), "success")
    return redirect(url_for("settings.team"))


@bp.post("/team/members/<int:membership_id>/remove")
@role_required("admin")
def remove_member(membership_id: int):
    membership = orgs.get_membership_or_404(current_org, membership_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if membership.role == "owner" and current_role() != "owner":
        abort(403)
    try:
        orgs.remove_member(current_org, membership)
    except WhaTrackError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("Member removed. Their access ended immediately."), "success")
    return redirect(url_for("settings.team"))


@bp.get("/api-keys")
@role_required("admin")
def api_keys():
    return render_template(
        "settings/api_keys.html",
        keys=apikeys.list_api_keys(current_org),
        form=ApiKeyForm(),
        action_form=EmptyForm(),
    )


@bp.post("/api-keys")
@role_required("admin")
def create_api_key():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        abort(400)
    issued = apikeys.create_api_key(current_org, form.name.data or "API", by=current_user,
                                    read_only=form.access.data == "read_only")
    db.session.commit()
    return render_template("settings/api_key_created.html", key=issued.key, api_key=issued.api_key)


@bp.post("/api-keys/<int:key_id>/revoke")
@role_required("admin")
def revoke_api_key(key_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    apikeys.revoke_api_key(current_org, ApiKey.get_for_org_or_404(key_id, current_org))
    db.session.commit()
    flash(_("API key revoked."), "info")
    return redirect(url_for("settings.api_keys"))


_SUMMARY = re.compile(r"(\d+) messages, (\d+) duplicates, (\d+) statuses, (\d+) other")


@bp.app_template_filter("delivery_summary")
def delivery_summary(summary: str | None) -> str:
    """A processed delivery's counts (stored in English for operators) in the page's words."""
    match = _SUMMARY.match(summary or "")
    if not match:
        return summary or ""
    messages, duplicates, statuses, others = (int(n) for n in match.groups())
    parts = [ngettext("%(num)d message", "%(num)d messages", messages),
             ngettext("%(num)d duplicate", "%(num)d duplicates", duplicates),
             ngettext("%(num)d status", "%(num)d statuses", statuses),
             ngettext("%(num)d other", "%(num)d others", others)]
    return ", ".join(parts)


@bp.get("/webhooks")
@role_required("admin")
def webhook_events():
    state = request.args.get("state") or None
    if state not in (None, "received", "processed", "failed", "unroutable"):
        state = None
    return render_template("settings/webhooks.html", events=webhooks.org_events(current_org, state),
                           state=state, action_form=EmptyForm())


@bp.post("/webhooks/<int:event_id>/reprocess")
@role_required("admin")
def reprocess_webhook(event_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    webhooks.reprocess_org_entries(current_org, webhooks.get_org_event(current_org, event_id))
    db.session.commit()
    flash(_("Delivery queued for processing again."), "info")
    return redirect(url_for("settings.webhook_events"))
