"""Creating and switching tracking links, and counting a visit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from whatrack.errors import NotFound, ValidationError
from whatrack.extensions import db
from whatrack.models import Organization, TrackingClick, TrackingLink, User, WhatsAppAccount, utcnow
from whatrack.models.tracking import UTM_FIELDS, UTM_MAX
from whatrack.services.tracking import refs
from whatrack.services.tracking.visitors import is_bot
from whatrack.tenancy import bind_org, unscoped

log = logging.getLogger(__name__)

NAME_MAX = 120
MESSAGE_MAX = 500
# A visitor (by address hash) counts at most this many clicks a minute in one organization;
# past that the last click's code is reused, so a flood adds no rows but a person still
# reaches WhatsApp with a code that attributes them.
CLICKS_PER_MINUTE = 10
RATE_WINDOW = timedelta(minutes=1)
CODE_ATTEMPTS = 5


def clip(value: Any, limit: int = UTM_MAX) -> str | None:
    """A text parameter, stripped and cut to ``limit``; None when empty or not text."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] or None


@dataclass(frozen=True)
class LinkInput:
    name: str
    message: str
    utms: dict[str, str | None]


def link_input(name: Any, message: Any, utms: dict[str, Any]) -> LinkInput:
    """Validate what a person or an integrator typed; UTMs are cut, never refused."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(_("Give the link a name."), field="name")
    if len(name.strip()) > NAME_MAX:
        raise ValidationError(_("The name can have at most %(n)d characters.", n=NAME_MAX),
                              field="name")
    if message is not None and not isinstance(message, str):
        raise ValidationError(_("The message must be text."), field="message")
    if message and len(message.strip()) > MESSAGE_MAX:
        raise ValidationError(_("The message can have at most %(n)d characters.", n=MESSAGE_MAX),
                              field="message")
    for key in UTM_FIELDS:
        if utms.get(key) is not None and not isinstance(utms.get(key), str):
            raise ValidationError(_("%(field)s must be text.", field=key), field=key)
    return LinkInput(name.strip(), (message or "").strip(),
                     {key: clip(utms.get(key)) for key in UTM_FIELDS})


def account_for_link(org: Organization, *, account_id: Any = None,
                     phone_number_id: Any = None) -> WhatsAppAccount:
    """The connected number a link opens, by our id (forms) or Meta's phone_number_id (API)."""
    stmt = select(WhatsAppAccount).where(WhatsAppAccount.organization_id == org.id)
    if phone_number_id is not None:
        stmt = stmt.where(WhatsAppAccount.phone_number_id == str(phone_number_id))
    else:
        account = WhatsAppAccount.get_for_org(account_id, org)
        stmt = stmt.where(WhatsAppAccount.id == (account.id if account else -1))
    account = db.session.scalars(stmt).first()
    if account is None or account.status != "connected":
        raise ValidationError(_("Choose a connected WhatsApp number."), field="phone_number_id")
    return account


def create_link(org: Organization, account: WhatsAppAccount, data: LinkInput,
                user: User | None = None) -> TrackingLink:
    for _attempt in range(CODE_ATTEMPTS):
        link = TrackingLink(organization_id=org.id, whatsapp_account_id=account.id,
                            code=refs.new_link_code(), name=data.name, message=data.message,
                            created_by_id=user.id if user else None, **data.utms)
        try:
            with db.session.begin_nested():
                db.session.add(link)
                db.session.flush()
        except IntegrityError:  # the random code is taken: draw another
            continue
        log.info("tracking link %s created for organization %s", link.id, org.id)
        return link
    raise RuntimeError("could not draw a free tracking-link code")


def set_link_enabled(org: Organization, link_id: Any, enabled: bool) -> TrackingLink:
    link = TrackingLink.get_for_org_or_404(link_id, org)
    link.disabled_at = None if enabled else (link.disabled_at or utcnow())
    db.session.flush()
    return link


# --- the public visit ------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    user_agent: str | None
    ip_hash: str | None
    referrer: str | None
    params: dict[str, str]


@dataclass(frozen=True)
class Redirect:
    url: str
    click: TrackingClick | None  # None: a bot, or nothing counted


def _active_link(code: str) -> TrackingLink | None:
    if not code or len(code) > 16:
        return None
    with unscoped():
        link = db.session.scalars(
            select(TrackingLink).where(TrackingLink.code == code.lower())).first()
    if link is None or link.disabled_at is not None:
        return None
    return link


def _recent_click(link: TrackingLink, ip: str) -> tuple[int, TrackingClick | None]:
    since = utcnow() - RATE_WINDOW
    base = select(TrackingClick).where(TrackingClick.organization_id == link.organization_id,
                                       TrackingClick.ip_hash == ip,
                                       TrackingClick.created_at >= since)
    count = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    last = db.session.scalars(base.where(TrackingClick.link_id == link.id)
                              .order_by(TrackingClick.id.desc()).limit(1)).first()
    return count, last


def _new_click(link: TrackingLink, visit: Visit) -> TrackingClick:
    values = {key: clip(visit.params.get(key)) or getattr(link, key) for key in UTM_FIELDS}
    for _attempt in range(CODE_ATTEMPTS):
        click = TrackingClick(
            organization_id=link.organization_id, link_id=link.id, ref=refs.new_ref(),
            fbclid=clip(visit.params.get("fbclid")), gclid=clip(visit.params.get("gclid")),
            referrer=clip(visit.referrer, 2000), user_agent=clip(visit.user_agent),
            ip_hash=visit.ip_hash, **values)
        try:
            with db.session.begin_nested():
                db.session.add(click)
                db.session.flush()
        except IntegrityError:
            continue
        return click
    raise RuntimeError("could not draw a free reference code")


def record_visit(code: str, visit: Visit) -> Redirect:
    """Count a visit of ``/t/<code>`` and say where to send the visitor.

    Raises NotFound for an unknown or disabled code (nothing is stored). Bots get the
    redirect without a code and are not counted; a flood from one address reuses its
    last click instead of adding rows. The caller commits.
    """
    link = _active_link(code)
    if link is None:
        raise NotFound(_("This link does not exist or was disabled."))
    with bind_org(link.organization_id):
        number = link.whatsapp_account.display_phone_number
        if is_bot(visit.user_agent):
            return Redirect(refs.wa_me_url(number, refs.prefilled_text(link.message, None)), None)
        click = None
        if visit.ip_hash:
            count, last = _recent_click(link, visit.ip_hash)
            if count >= CLICKS_PER_MINUTE:
                log.info("tracking link %s: click flood from one address, not counted", link.id)
                click = last
                if click is None:
                    return Redirect(refs.wa_me_url(
                        number, refs.prefilled_text(link.message, None)), None)
        if click is None:
            click = _new_click(link, visit)
        return Redirect(refs.wa_me_url(number, refs.prefilled_text(link.message, click.ref)),
                        click)
