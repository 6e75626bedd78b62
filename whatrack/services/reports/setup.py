"""Where a new organization stands on its first steps (the dashboard's checklist)."""

from __future__ import annotations

from dataclasses import dataclass

from whatrack.models import Organization
from whatrack.services.accounts import orgs
from whatrack.services.conversions import commands as conversions
from whatrack.services.whatsapp.accounts import list_accounts


@dataclass(frozen=True)
class SetupProgress:
    whatsapp_connected: bool
    facebook_connected: bool
    team_invited: bool

    @property
    def complete(self) -> bool:
        return self.whatsapp_connected and self.facebook_connected and self.team_invited


def setup_progress(org: Organization) -> SetupProgress:
    """Which of the three first steps ``org`` has done (a number, Facebook, a colleague)."""
    conn = conversions.connection_of(org)
    return SetupProgress(
        whatsapp_connected=any(a.status != "disconnected" for a in list_accounts(org)),
        facebook_connected=bool(conn and conn.connected),
        team_invited=len(orgs.list_members(org)) > 1 or bool(orgs.pending_invites(org)),
    )
