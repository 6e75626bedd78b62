"""Every model module, imported so Alembic and the mapper registry see them all."""

from whatrack.models.attribution import TicketTouch
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime, utcnow
from whatrack.models.billing import StripeEvent
from whatrack.models.conversions import (
    DataDeletionRequest,
    MetaConnection,
    MetaConversionAttempt,
    MetaConversionEvent,
)
from whatrack.models.copilot import CopilotReview, CopilotSettings
from whatrack.models.org import ApiKey, Invite, Membership, Organization
from whatrack.models.sales import Sale, SaleEvent
from whatrack.models.tickets import Stage, Ticket, TicketEvent, TicketNote
from whatrack.models.user import LoginAttempt, User, UserSession
from whatrack.models.webhooks import WebhookEvent, WebhookEventRoute
from whatrack.models.whatsapp import (
    Contact,
    MediaFile,
    Message,
    MessageStatusEvent,
    MessageTemplate,
    WhatsAppAccount,
)
from whatrack.models.whatsapp_onboarding import WhatsAppOnboarding

__all__ = [
    "ApiKey",
    "Contact",
    "CopilotReview",
    "CopilotSettings",
    "DataDeletionRequest",
    "Invite",
    "LoginAttempt",
    "MediaFile",
    "Membership",
    "Message",
    "MessageStatusEvent",
    "MessageTemplate",
    "MetaConnection",
    "MetaConversionAttempt",
    "MetaConversionEvent",
    "Organization",
    "Sale",
    "SaleEvent",
    "Stage",
    "StripeEvent",
    "TenantMixin",
    "Ticket",
    "TicketEvent",
    "TicketNote",
    "TicketTouch",
    "TimestampMixin",
    "UTCDateTime",
    "User",
    "UserSession",
    "WebhookEvent",
    "WebhookEventRoute",
    "WhatsAppAccount",
    "WhatsAppOnboarding",
    "utcnow",
]
