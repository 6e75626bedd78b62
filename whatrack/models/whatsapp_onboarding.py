"""One Embedded Signup completion: which steps ran, what failed, the secrets it holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from whatrack.crypto import encrypted_attribute
from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime

ONBOARDING_STATUSES = ("running", "failed", "connected")


class WhatsAppOnboarding(TenantMixin, TimestampMixin, db.Model):
    """Resumable: ``steps`` records each finished step, so a retry never repeats one.

    The business token lives here (encrypted) only until the number is saved; the PIN
    stays, because Meta asks for it again whenever the number is registered anew.
    """

    __tablename__ = "whatsapp_onboardings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    via: Mapped[str] = mapped_column(String(8), nullable=False)  # web / cli
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    waba_id: Mapped[str] = mapped_column(String(32), nullable=False)
    phone_number_id: Mapped[str | None] = mapped_column(String(32), index=True)
    business_id: Mapped[str | None] = mapped_column(String(32))
    coexistence: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    # step name -> {"state": "done" | "failed", "at": ISO time, extra facts (request ids)}
    steps: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    failed_step: Mapped[str | None] = mapped_column(String(32))
    error_reason: Mapped[str | None] = mapped_column(String(32))  # our cause code
    error_message: Mapped[str | None] = mapped_column(Text)  # Meta's own words
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_subcode: Mapped[int | None] = mapped_column(Integer)
    error_fbtrace_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # A second request (double click, a CLI run) waits while one runs the steps.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pin_encrypted: Mapped[str | None] = mapped_column(Text)
    whatsapp_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("whatsapp_accounts.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    token = encrypted_attribute("token_encrypted")

    pin = encrypted_attribute("pin_encrypted")

    def step_done(self, name: str) -> bool:
        return (self.steps or {}).get(name, {}).get("state") == "done"

    def __repr__(self) -> str:  # never the token or the PIN
        return f"<WhatsAppOnboarding {self.id} {self.waba_id} {self.status}>"
