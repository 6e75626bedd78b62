"""Sales closed on tickets, and the ledger of every change made to them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime

if TYPE_CHECKING:
    from whatrack.models.tickets import Ticket
    from whatrack.models.user import User

# copilot: proposed by our detector; meta: Meta's automatic_events webhook detected it.
SALE_ORIGINS = ("panel", "kanban", "api", "copilot", "meta")
SALE_STATUSES = ("proposed", "approved", "rejected")


class Sale(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "sales"
    # The "Vendas para aprovar" list and the Kanban badges look proposals up by status.
    __table_args__ = (Index("ix_sales_org_status", "organization_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    value: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="BRL")
    description: Mapped[str | None] = mapped_column(String(500))
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="proposed")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # Evidence for proposals, shown to the approver: {"message_ids": [...], "detector": ...,
    # "automatic_event": {...}} (the last one for Meta's detections).
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A proposal's confidence (0-1) and one sentence of why, in pt-BR.
    confidence: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    proposal_reason: Mapped[str | None] = mapped_column(String(500))
    # Why a person rejected the proposal (who and when: decided_by_id, decided_at).
    decision_note: Mapped[str | None] = mapped_column(String(500))

    ticket: Mapped[Ticket] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def evidence_message_ids(self) -> list[int]:
        return [int(i) for i in (self.evidence or {}).get("message_ids", [])]

    @property
    def automatic_event(self) -> dict[str, Any] | None:
        return (self.evidence or {}).get("automatic_event")

    @property
    def counts(self) -> bool:
        """An approved, not cancelled sale counts as revenue."""
        return self.status == "approved" and self.cancelled_at is None


class SaleEvent(TenantMixin, TimestampMixin, db.Model):
    """Every state change of a sale, with who made it."""

    __tablename__ = "sale_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[int] = mapped_column(
        ForeignKey("sales.id", ondelete="CASCADE"), nullable=False, index=True
    )
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User | None] = relationship()
