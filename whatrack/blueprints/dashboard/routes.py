"""The logged-in home and the product areas that later features fill in."""

from __future__ import annotations

from collections import defaultdict

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from whatrack.blueprints.dashboard import bp
from whatrack.errors import ValidationError
from whatrack.services.billing.state import billing_summary
from whatrack.services.reports import stats as stats_service
from whatrack.tenancy import current_org, org_required

# Areas not built yet: an honest "coming soon" page, never a fake screen.
COMING_SOON = {
    "tracking": (
        "/tracking",
        _l("Tracking"),
        _l("Tracking links with UTMs that tag leads who do not come from an ad."),
    ),
    "billing": (
        "/billing",
        _l("Billing"),
        _l("Your plan, trial and invoices."),
    ),
}


@bp.get("", strict_slashes=False)
@org_required
def home():
    try:
        period = stats_service.parse_period(current_org, request.args.get("from"),
                                            request.args.get("to"))
        error = None
    except ValidationError as exc:
        period, error = stats_service.parse_period(current_org, None, None), exc.message
    stats = stats_service.compute_stats(current_org, period)
    return render_template("dashboard/home.html", billing=billing_summary(current_org),
                           stats=stats, bars=bar_widths(stats), period_error=error)


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
