"""The logged-in home and the product areas that later features fill in."""

from __future__ import annotations

from collections import defaultdict

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from whatrack.blueprints.dashboard import bp
from whatrack.errors import ValidationError
from whatrack.i18n import parse_date_input
from whatrack.services.reports import stats as stats_service
from whatrack.services.reports.setup import setup_progress
from whatrack.tenancy import current_org, org_required

# Areas not built yet: an honest "coming soon" page, never a fake screen.
COMING_SOON = {
    "inbox": (
        "/whatsapp/inbox",
        _l("Inbox"),
        _l("Every WhatsApp conversation of your number, live, with the 24-hour window."),
    ),
    "tracking": (
        "/tracking",
        _l("Tracking"),
        _l("Tracking links with UTMs that tag leads who do not come from an ad."),
    ),
}


@bp.get("", strict_slashes=False)
@org_required
def home():
    period, error = _period()
    stats = stats_service.compute_stats(current_org, period)
    return render_template("dashboard/home.html", stats=stats, bars=bar_widths(stats),
                           period_error=error,
                           setup=setup_progress(current_org))


def _period() -> tuple[stats_service.Period, str | None]:
    """The typed period (dd/mm/aaaa, or ISO from a link), else the default and why, in pt-BR."""
    try:
        start = parse_date_input(request.args.get("from"))
        end = parse_date_input(request.args.get("to"))
    except ValueError:
        return stats_service.parse_period(current_org, None, None), _(
            "Type the dates as dd/mm/yyyy, for example 01/11/2026.")
    try:
        return stats_service.parse_period(current_org, start and start.isoformat(),
                                          end and end.isoformat()), None
    except ValidationError as exc:
        message = (_("The start date must not be after the end date.") if exc.field == "from"
                   else _("The period can span at most %(num)d days.",
                          num=stats_service.MAX_PERIOD_DAYS))
        return stats_service.parse_period(current_org, None, None), message


def _coming_soon_view(title, description):
    @org_required
    def view():
        return render_template(
            "dashboard/coming_soon.html", area_title=title, area_description=description
        )

    return view


for _endpoint, (_rule, _title, _description) in COMING_SOON.items():
    bp.add_url_rule(_rule, _endpoint, _coming_soon_view(_title, _description))


def bar_widths(stats: stats_service.Stats) -> dict[str, int]:
    """Percent widths for the one small bar chart (leads by source)."""
    top = max(stats.leads_by_source.values(), default=0) or 1
    return defaultdict(int, {k: round(v * 100 / top) for k, v in stats.leads_by_source.items()})
