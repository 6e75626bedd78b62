"""API keys: created for an organization, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

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


def create_api_key(org: Organization, name: str = "API", by: User | None = None) -> IssuedKey:
    """A new key for ``org``; the plain key exists only in the return value."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        organization_id=org.id,
        name=name.strip() or "API",
        prefix=key[:10],
        key_hash=_hash(key),
        created_by_id=by.id if by else None,
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
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())))


def revoke_api_key(org: Organization, api_key: ApiKey) -> None:
    api_key.revoked_at = utcnow()
    db.session.flush()
