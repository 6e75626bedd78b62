"""/dashboard/settings/meta: connect Facebook, pick the dataset, choose what goes to CAPI."""

from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client import OAuthError
from flask import abort, current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from whatrack.blueprints.settings import bp
from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.blueprints.settings.meta_forms import (
    DatasetForm,
    stage_field_name,
    with_stage_fields,
)
from whatrack.errors import redirect_on_error
from whatrack.extensions import db, oauth
from whatrack.integrations.meta import facebook
from whatrack.problems import Problem, exception_problem
from whatrack.services.conversions import commands as conversions
from whatrack.services.conversions import queries as conversions_query
from whatrack.services.meta import connection as meta_connection
from whatrack.services.tickets.stages import active_stages
from whatrack.tenancy import current_org, role_required

log = logging.getLogger(__name__)

_OAUTH_ORG_KEY = "meta_oauth_org"


def facebook_oauth():
    """Authlib's Flask client for Facebook Login, (re)registered when the config changes."""
    cfg = current_app.config
    version, graph = cfg["META_GRAPH_VERSION"], cfg["META_GRAPH_URL"].rstrip("/")
    settings = {
        "client_id": cfg.get("META_APP_ID"),
        "client_secret": cfg.get("META_APP_SECRET"),
        "authorize_url": f"{cfg['META_DIALOG_URL'].rstrip('/')}/{version}/dialog/oauth",
        "access_token_url": f"{graph}/{version}/oauth/access_token",
        # Authlib sends the code exchange without any timeout unless given one.
        "client_kwargs": {"scope": ",".join(facebook.LOGIN_SCOPES),
                          "token_endpoint_auth_method": "client_secret_post",
                          "default_timeout": meta_connection.graph_timeout()},
    }
    # Authlib caches a client per name; tests (and a reconfigured server) change the URLs.
    if getattr(oauth, "_whatrack_facebook", None) != settings:
        oauth._clients.pop("facebook", None)  # Authlib has no public way to reset a client
        oauth.register("facebook", **settings)
        oauth._whatrack_facebook = settings
    return oauth.create_client("facebook")


def _settings_form(conn, stages):
    form_class = with_stage_fields(stages)
    form = form_class()
    if not form.is_submitted():
        form.lead_event_enabled.data = conn.lead_event_enabled if conn else True
        form.lead_event_name.data = conn.lead_event_name if conn else "LeadSubmitted"
        form.test_event_code.data = conn.test_event_code if conn else None
        mapping = (conn.stage_events or {}) if conn else {}
        for stage in stages:
            getattr(form, stage_field_name(stage.id)).data = mapping.get(str(stage.id), "")
    return form


def _open_stages():
    return [s for s in active_stages(current_org) if s.kind == "open"]


@bp.get("/meta")
@role_required("admin")
def meta():
    conn = conversions.connection_of(current_org)
    return render_template(
        "settings/meta.html", conn=conn, login_configured=meta_connection.login_configured(),
        missing_scopes=facebook.missing_scopes(conn.scopes) if conn and conn.scopes is not None
        else [], capi_scopes=facebook.CAPI_SCOPES,
        last_event=meta_connection.last_attempted_event(current_org),
        form=_settings_form(conn, _open_stages()), stages=_open_stages(),
        stage_field_name=stage_field_name, action_form=EmptyForm(),
        waiting=conversions.waiting_reason(conn),
        pending=conversions_query.pending_count(current_org),
        waiting_text=conversions_query.REASONS.get(conversions.waiting_reason(conn) or ""))


@bp.post("/meta/connect")
@role_required("admin")
def meta_connect():
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not meta_connection.login_configured():
        flash(_("Connecting Facebook is not available on this WhaTrack yet. Contact WhaTrack "
                "support to turn it on."), "error")
        return redirect(url_for("settings.meta"))
    session[_OAUTH_ORG_KEY] = current_org.id
    return facebook_oauth().authorize_redirect(url_for("settings.meta_callback", _external=True))


@bp.get("/meta/callback")
@role_required("admin")
@redirect_on_error("settings.meta", meta_message=_l("Meta refused the connection: %(error)s"))
def meta_callback():
    if session.pop(_OAUTH_ORG_KEY, None) != current_org.id:
        flash(_("The Facebook login did not start from this organization. Try again."), "error")
        return redirect(url_for("settings.meta"))
    try:
        token = facebook_oauth().authorize_access_token()
        meta_connection.complete_oauth(current_org, current_user, token["access_token"],
                                       token.get("expires_in"))
    except (requests.RequestException, KeyError) as exc:
        db.session.rollback()
        log.warning("Facebook code exchange failed: %s", type(exc).__name__)
        flash(exception_problem(_("Facebook did not answer in time. Try again."),
                                exc).as_flash(), "error")
        return redirect(url_for("settings.meta"))
    except OAuthError as exc:
        db.session.rollback()
        log.info("Facebook login not completed: %s", exc.error)
        flash(Problem(_("Facebook did not connect: the login was cancelled or refused. Try "
                        "again and accept every permission."),
                      [("OAuth", str(exc.error or "")), (_("message"), str(exc.description or ""))]
                      ).as_flash(), "error")
        return redirect(url_for("settings.meta"))
    db.session.commit()
    flash(_("Facebook connected."), "success")
    return redirect(url_for("settings.meta"))


@bp.post("/meta/disconnect")
@role_required("admin")
def meta_disconnect():
    if not EmptyForm().validate_on_submit():
        abort(400)
    meta_connection.disconnect(current_org)
    db.session.commit()
    flash(_("Facebook disconnected: the token was deleted. New events wait for a new "
            "connection."), "info")
    return redirect(url_for("settings.meta"))


@bp.post("/meta/check")
@role_required("admin")
@redirect_on_error("settings.meta", message=_l("Could not check the token: %(error)s"),
                   meta_message=_l("Could not check the token: %(error)s"))
def meta_check():
    conn = conversions.connection_of(current_org)
    if not EmptyForm().validate_on_submit() or conn is None or not conn.connected:
        abort(400)
    info = meta_connection.refresh_token_info(current_org, conn)
    db.session.commit()
    flash(_("Token checked with Meta.") if info.is_valid else _("Meta says the token is no longer "
                                                                "valid: reconnect Facebook."),
          "success" if info.is_valid else "error")
    return redirect(url_for("settings.meta"))


@bp.post("/meta/settings")
@role_required("admin")
def meta_settings():
    stages = _open_stages()
    form = with_stage_fields(stages)()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("settings.meta"))
    meta_connection.update_settings(
        current_org, lead_event_enabled=form.lead_event_enabled.data,
        lead_event_name=form.lead_event_name.data, test_event_code=form.test_event_code.data,
        stage_events={s.id: getattr(form, stage_field_name(s.id)).data for s in stages})
    db.session.commit()
    flash(_("Conversions API settings saved."), "success")
    return redirect(url_for("settings.meta"))


@bp.get("/meta/datasets")
@role_required("admin")
def meta_datasets():
    conn = conversions.connection_of(current_org)
    if conn is None or not conn.connected:
        return redirect(url_for("settings.meta"))
    options = meta_connection.dataset_options(current_org, conn)
    return render_template("settings/meta_datasets.html", conn=conn, options=options,
                           form=DatasetForm(), action_form=EmptyForm())


@bp.post("/meta/dataset")
@role_required("admin")
def meta_choose_dataset():
    form = DatasetForm()
    if not form.validate_on_submit():
        flash(_("Choose a dataset."), "error")
        return redirect(url_for("settings.meta_datasets"))
    meta_connection.choose_dataset(current_org, form.dataset_id.data, form.dataset_name.data,
                                   form.source.data or "manual")
    db.session.commit()
    flash(_("Dataset chosen: events go to %(id)s.", id=form.dataset_id.data), "success")
    return redirect(url_for("settings.meta"))


@bp.post("/meta/dataset/create")
@role_required("admin")
@redirect_on_error("settings.meta_datasets",
                   meta_message=_l("Meta refused to create the dataset: %(error)s"))
def meta_create_dataset():
    conn = conversions.connection_of(current_org)
    if not EmptyForm().validate_on_submit() or conn is None or not conn.connected:
        abort(400)
    dataset = meta_connection.create_dataset(current_org, conn)
    db.session.commit()
    flash(_("Dataset chosen: events go to %(id)s.", id=dataset.id), "success")
    return redirect(url_for("settings.meta"))
