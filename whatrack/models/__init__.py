"""Every model module, imported so Alembic and the mapper registry see them all."""

from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime, utcnow
from whatrack.models.org import ApiKey, Invite, Membership, Organization
from whatrack.models.user import LoginAttempt, User

__all__ = [
    "ApiKey",
    "Invite",
    "LoginAttempt",
    "Membership",
    "Organization",
    "TenantMixin",
    "TimestampMixin",
    "UTCDateTime",
    "User",
    "utcnow",
]
