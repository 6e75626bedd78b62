"""Organizations and their members: signup, invites, roles, removal."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import contains_eager

from whatrack.errors import ConflictError, NotFound, ValidationError
from whatrack.extensions import db
from whatrack.models import Invite, Membership, Organization, User, utcnow
from whatrack.services.accounts.apikeys import revoke_keys_created_by
from whatrack.services.tickets.stages import create_default_stages
from whatrack.tenancy import ROLE_RANK, bind_org, unscoped

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60] or "org"


def _unique_slug(name: str) -> str:
    base = slugify(name)
    taken = set(
        db.session.scalars(select(Organization.slug).where(Organization.slug.like(f"{base}%")))
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalars(
        select(User).where(func.lower(User.email) == normalize_email(email))
    ).first()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            _("Password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            field="password",
        )


def create_user(email: str, password: str, name: str = "") -> User:
    """A new login; the email must be free and the password strong enough."""
    if not EMAIL_RE.fullmatch(normalize_email(email)):
        raise ValidationError(_("Enter a valid email address."), field="email")
    check_password_strength(password)
    if find_user_by_email(email) is not None:
        raise ConflictError(_("This email is already registered."), field="email")
    user = User(email=normalize_email(email), name=name.strip())
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def create_org(name: str, owner: User) -> Organization:
    """A new organization on a fresh trial, owned by ``owner``."""
    name = name.strip()
    if not name:
        raise ValidationError(_("Organization name is required."), field="org_name")
    org = Organization(
        name=name,
        slug=_unique_slug(name),
        billing_state="trialing",
        trial_ends_at=utcnow() + timedelta(days=current_app.config["TRIAL_DAYS"]),
    )
    db.session.add(org)
    db.session.flush()
    db.session.add(Membership(organization_id=org.id, user_id=owner.id, role="owner"))
    db.session.flush()
    with bind_org(org):
        create_default_stages(org)
    log.info("organization %s created (owner user %s)", org.id, owner.id)
    return org


@dataclass(frozen=True)
class Signup:
    user: User
    org: Organization


def sign_up(org_name: str, name: str, email: str, password: str) -> Signup:
    """Self-service signup: the owner's login plus their organization on a 14-day trial."""
    user = create_user(email, password, name)
    return Signup(user=user, org=create_org(org_name, user))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    invite: Invite
    token: str  # shown once in the link, only its hash is stored


def invite_member(org: Organization, by: User, role: str, email: str | None = None) -> IssuedInvite:
    """A one-time link that joins ``org`` with ``role`` (owners only grant owner)."""
    if role not in ROLE_RANK:
        raise ValidationError(_("Unknown role."), field="role")
    token = secrets.token_urlsafe(32)
    invite = Invite(
        organization_id=org.id,
        token_hash=_hash_token(token),
        email=normalize_email(email) if email else None,
        role=role,
        created_by_id=by.id,
        expires_at=utcnow() + timedelta(days=current_app.config["INVITE_VALID_DAYS"]),
    )
    db.session.add(invite)
    db.session.flush()
    return IssuedInvite(invite=invite, token=token)


def find_invite(token: str) -> Invite | None:
    """Resolve a link before any organization is bound (the token is the credential)."""
    with unscoped():
        invite = db.session.scalars(
            select(Invite).where(Invite.token_hash == _hash_token(token))
        ).first()
    return invite if invite is not None and invite.usable else None


def accept_invite(token: str, user: User) -> Membership:
    """Join the invite's organization; the link cannot be used again."""
    invite = find_invite(token)
    if invite is None:
        raise ValidationError(_("This invite link is invalid, expired or already used."))
    with unscoped():
        existing = db.session.scalars(
            select(Membership).where(
                Membership.organization_id == invite.organization_id,
                Membership.user_id == user.id,
            )
        ).first()
        # One conditional UPDATE consumes the link: of parallel accepts exactly one matches
        # the row (the others wait on its lock, then see accepted_at set) and goes on.
        now = utcnow()
        consumed = db.session.execute(
            update(Invite)
            .where(Invite.id == invite.id, Invite.accepted_at.is_(None),
                   Invite.revoked_at.is_(None), Invite.expires_at > now)
            .values(accepted_at=now, accepted_by_id=user.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if consumed != 1:
            raise ValidationError(_("This invite link is invalid, expired or already used."))
        db.session.refresh(invite)
        if existing is None:
            existing = Membership(
                organization_id=invite.organization_id, user_id=user.id, role=invite.role
            )
            db.session.add(existing)
        db.session.flush()
    log.info("user %s joined organization %s", user.id, invite.organization_id)
    return existing


def revoke_invite(org: Organization, invite: Invite) -> None:
    invite.revoked_at = utcnow()
    db.session.flush()


def list_members(org: Organization) -> list[Membership]:
    stmt = (
        select(Membership)
        .join(Membership.user)
        # The users come along: pages list every member's name (one query, not one each).
        .options(contains_eager(Membership.user))
        .where(Membership.organization_id == org.id)
        .order_by(User.email)
    )
    return list(db.session.scalars(stmt))


def get_membership_or_404(org: Organization, membership_id: int) -> Membership:
    membership = db.session.scalars(
        select(Membership).where(
            Membership.id == membership_id, Membership.organization_id == org.id
        )
    ).first()
    if membership is None:
        raise NotFound()
    return membership


def _owners(org: Organization) -> int:
    return db.session.scalar(
        select(func.count(Membership.id)).where(
            Membership.organization_id == org.id, Membership.role == "owner"
        )
    )


def change_role(org: Organization, membership: Membership, role: str) -> None:
    """Set a member's role; an organization always keeps at least one owner."""
    if role not in ROLE_RANK:
        raise ValidationError(_("Unknown role."), field="role")
    if membership.role == "owner" and role != "owner" and _owners(org) <= 1:
        raise ConflictError(_("The organization needs at least one owner."))
    membership.role = role
    db.session.flush()


def remove_member(org: Organization, membership: Membership) -> None:
    """Remove access at once: the membership row is gone, the next request 404s."""
    if membership.role == "owner" and _owners(org) <= 1:
        raise ConflictError(_("The organization needs at least one owner."))
    db.session.delete(membership)
    revoked = revoke_keys_created_by(org, membership.user_id)
    db.session.flush()
    log.info("user %s removed from organization %s (%d API keys of theirs revoked)",
             membership.user_id, org.id, revoked)


def pending_invites(org: Organization) -> list[Invite]:
    stmt = (
        select(Invite)
        .where(Invite.accepted_at.is_(None), Invite.revoked_at.is_(None))
        .where(Invite.expires_at > utcnow())
        .order_by(Invite.created_at.desc())
    )
    return list(db.session.scalars(stmt))
