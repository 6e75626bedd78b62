"""Changing the copilot's settings (the review itself is review.py)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.models import CopilotSettings, Organization
from whatrack.models.copilot import COPILOT_DETECTORS
from whatrack.services.copilot.queries import llm_configured


def update_settings(org: Organization, enabled: bool, detector: str) -> CopilotSettings:
    if detector not in COPILOT_DETECTORS:
        raise ValidationError(_("Choose a detector."), field="detector")
    if detector == "llm" and not llm_configured():
        raise ValidationError(_("No LLM endpoint is configured on this server "
                                "(LLM_BASE_URL and LLM_MODEL)."), field="detector")
    row = db.session.scalars(
        select(CopilotSettings).where(CopilotSettings.organization_id == org.id)).first()
    if row is None:
        row = CopilotSettings(organization_id=org.id)
        db.session.add(row)
    row.enabled, row.detector = enabled, detector
    db.session.flush()
    return row
