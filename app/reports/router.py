"""HTTP routes of the reports: JSON, or CSV with `Accept: text/csv` (the same rows)."""

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from app.caller import Caller
from app.db import ReportSessionDep
from app.errors import problem_responses
from app.identity.auth import CallerDep
from app.identity.policy import GuardedRoute, policy
from app.negotiation import AcceptHeader, answer, negotiate
from app.reports import service
from app.reports.schemas import (BlockerRow, Filters, ForecastRow, FunnelRow, OutcomeRow, OverrideRow,
                                 OwnerPipelineRow, PipelineRow, QualificationRow, Report, StaleRow, TimeInStepRow)
from app.schemas import ONE_LINE, Day

router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=GuardedRoute)

READERS = ("manager", "ops", "admin")  # managers see their teams' deals, ops and admins the workspace's
FORMS = ("application/json", "text/csv")
STALE_MAX = 500  # deals the stale report lists at most
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)  # the days a period may name
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a CSV cell starting so is a formula to a spreadsheet


def report_filters(
        team: Annotated[str | None, Query(max_length=200, pattern=ONE_LINE, description="A team's name.")] = None,
        owner: Annotated[str | None, Query(max_length=200, pattern=ONE_LINE, description="An owner's handle.")] = None,
        process: Annotated[str | None, Query(max_length=100, pattern=ONE_LINE, description="A process key.")] = None,
        since: Annotated[Day | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="First day of the period (UTC).")]
        = None,
        until: Annotated[Day | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="Last day of the period (UTC).")]
        = None) -> Filters:
    """The filters every report takes."""
    return Filters(team=team, owner=owner, process=process, since=since, until=until)


FiltersDep = Annotated[Filters, Depends(report_filters)]


def _responses(row: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"text/csv": {"schema": {"type": "string"},
                                           "description": f"One line per row, columns as in {row.__name__}."}}},
            **problem_responses(406, 422)}


def _cell(value: Any) -> Any:
    """A CSV cell: empty for null, and text a spreadsheet would run as a formula kept as text by a leading '."""
    if value is None:
        return ""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _csv(rows: Sequence[BaseModel], row: type[BaseModel]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row.model_fields), lineterminator="\r\n")
    writer.writeheader()
    for item in rows:
        writer.writerow({k: _cell(v) for k, v in item.model_dump(mode="json").items()})
    return out.getvalue()


def _answer(name: str, row: type[BaseModel], request: Request, accept: str | None, session: Any, caller: Caller,
            filters: Filters, **options: Any) -> Any:
    """Run a report and answer in the form Accept asks for."""
    form = negotiate(accept, FORMS)
    rows, totals, at = service.run(session, caller, name, filters, request.app.state.settings, **options)
    if form == "text/csv":
        return answer(_csv(rows, row), "text/csv; charset=utf-8")
    return Report[row](report=name, filters=filters, generated_at=at, totals=totals, rows=rows)  # type: ignore[valid-type]


def _report(name: str, row: type[BaseModel], summary: str) -> Any:
    """Register a report taking only the common filters."""
    def read(request: Request, session: ReportSessionDep, caller: CallerDep, filters: FiltersDep,
             accept: AcceptHeader = None) -> Any:
        return _answer(name, row, request, accept, session, caller, filters)
    read.__doc__ = summary
    read.__name__ = "report_" + name.replace("-", "_")
    return router.get(f"/{name}", response_model=Report[row], openapi_extra=policy(READERS),  # type: ignore[valid-type]
                      responses=_responses(row), summary=summary.split(":")[0])(read)


_report("pipeline", PipelineRow, "Pipeline: open deals and their value by process, phase, step and currency.")
_report("pipeline-by-owner", OwnerPipelineRow, "Pipeline by owner: open deals and their value by owner and currency.")
_report("funnel", FunnelRow, "Funnel: deals that came to stand in each step in the period, and the share that "
                             "moved on, won, lost, or were disqualified.")
_report("time-in-step", TimeInStepRow, "Time in step: median and 90th percentile of stays that ended in the "
                                       "period, and the open deals past the 90th percentile now.")
_report("blockers", BlockerRow, "Blockers: the requirements holding the most open deals now, and refusing the "
                                "most moves in the period.")
_report("qualification", QualificationRow, "Go for the no: of the deals created in the period, the share with "
                                           "both urgency and resources, and the share disqualified.")
_report("overrides", OverrideRow, "Overrides: requirements overridden in the period, by user.")
_report("outcomes", OutcomeRow, "Outcomes: deals closed in the period, the win rate and the cycle length of wins.")
_report("forecast", ForecastRow, "Forecast: open deals weighted by the chance of a win from their step, learned "
                                 "from the workspace's closed deals, with the sample each figure rests on.")


@router.get("/stale", response_model=Report[StaleRow], openapi_extra=policy(READERS),
            responses=_responses(StaleRow), summary="Stale deals")
def report_stale(request: Request, session: ReportSessionDep, caller: CallerDep, filters: FiltersDep,
                 days: Annotated[int, Query(ge=1, le=3650, description="Days without activity or a move.")] = 21,
                 limit: Annotated[int, Query(ge=1, le=STALE_MAX, description="Deals listed at most.")] = 100,
                 accept: AcceptHeader = None) -> Any:
    """Stale deals: open deals idle for more than `days`, the longest idle first; totals count them all."""
    return _answer("stale", StaleRow, request, accept, session, caller, filters, days=days, limit=limit)
