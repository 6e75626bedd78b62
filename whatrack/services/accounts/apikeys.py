"""API keys: created for an organization, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from whatrack.extensions import db
from whatrack.models import ApiKey, Organization, User, utcnow
from whatrack.tenancy import unscoped

KEY_PREFIX = "wt_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    key: str


def create_api_key(org: Organization, name: str = "API", by: User | None = None,
                   read_only: bool = False) -> IssuedKey:
    """A new key for ``org``; the plain key exists only in the return value."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        organization_id=org.id,
        name=name.strip() or "API",
        prefix=key[:10],
        key_hash=_hash(key),
        created_by_id=by.id if by else None,
        read_only=read_only,
    )
    db.session.add(api_key)
    db.session.flush()
    return IssuedKey(api_key=api_key, key=key)


def find_active_key(key: str) -> ApiKey | None:
    """Resolve a bearer key before any organization is bound (the key is the credential)."""
    if not key.startswith(KEY_PREFIX):
        return None
    with unscoped():
        api_key = db.session.scalars(select(ApiKey).where(ApiKey.key_hash == _hash(key))).first()
    if api_key is None or api_key.revoked_at is not None:
        return None
    return api_key


def list_api_keys(org: Organization) -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).options(joinedload(ApiKey.created_by))
                                   .order_by(ApiKey.created_at.desc())))


CREATOR_REMOVED = "creator_removed"


def revoke_keys_created_by(org: Organization, user_id: int) -> int:
    """Revoke ``org``'s active keys created by a person who is leaving it; returns how many.

    A key acts for the organization, but someone chose what it may do and where it lives:
    once that person has no access, neither should the integration they set up (D-log).
    """
    keys = db.session.scalars(select(ApiKey).where(
        ApiKey.organization_id == org.id, ApiKey.created_by_id == user_id,
        ApiKey.revoked_at.is_(None))).all()
    now = utcnow()
    for api_key in keys:
        api_key.revoked_at, api_key.revoked_reason = now, CREATOR_REMOVED
    db.session.flush()
    return len(keys)


def revoke_api_key(org: Organization, api_key: ApiKey) -> None:
    api_key.revoked_at = utcnow()
    db.session.flush()
