"""/dashboard/reports (owner/admin): leads, sales, revenue and spend by source; CSV export."""

from __future__ import annotations

from flask import Response, flash, render_template, request
from flask_babel import gettext as _

from whatrack.blueprints.tracking import bp
from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.i18n import parse_date_input
from whatrack.services.reports import ads as report_service
from whatrack.services.reports import stats as stats_service
from whatrack.services.tickets.stages import active_stages
from whatrack.services.tracking.ads import reason_text
from whatrack.tenancy import current_org, role_required


def _period() -> stats_service.Period:
    """The typed period (dd/mm/aaaa, or ISO from a link); else the last 30 days, and why."""
    try:
        start = parse_date_input(request.args.get("from"))
        end = parse_date_input(request.args.get("to"))
        return stats_service.parse_period(current_org, start and start.isoformat(),
                                          end and end.isoformat())
    except ValueError:
        flash(_("Type the dates as dd/mm/yyyy, for example 01/11/2026."), "error")
    except ValidationError as exc:
        flash(_("The start date must not be after the end date.") if exc.field == "from"
              else _("The period can span at most %(num)d days.",
                     num=stats_service.MAX_PERIOD_DAYS), "error")
    return stats_service.parse_period(current_org, None, None)


@bp.get("/dashboard/reports")
@role_required("admin")
def reports():
    period = _period()
    report = report_service.build_report(current_org, period, request.args.get("stage"))
    # What the Marketing API told us (spend, names, errors) is kept for the next view.
    db.session.commit()
    return render_template("tracking/reports.html", report=report, period=period,
                           stages=active_stages(current_org),
                           chart=report_service.chart_rows(report), reason_text=reason_text)


@bp.get("/dashboard/reports/tickets.csv")
@role_required("admin")
def reports_csv():
    period = _period()
    body = "".join(report_service.csv_rows(current_org, period))
    filename = (f"tickets-{current_org.slug}-{period.start.isoformat()}-"
                f"{period.end.isoformat()}.csv")
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
