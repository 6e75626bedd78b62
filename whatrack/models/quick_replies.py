"""Quick replies: an organization's saved answers, typed in the composer as "/name"."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin


class QuickReply(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "quick_replies"
    __table_args__ = (UniqueConstraint("organization_id", "name",
                                       name="uq_quick_replies_org_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The shortcut after "/": lowercase letters, digits, "-" and "_".
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
