"""The manager's pages: five reports of /v1/reports drawn as charts, each with its figures in a table under it.

Each page runs its report through the function the API's route runs (app.reports.service.run), on the session the
reports query (the read replica, when one is set), with the API's filters and roles: managers see their teams'
deals, ops and admins the workspace's, reps are refused. The figures are the API's rows, unchanged.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.caller import Caller
from app.console.auth import COOKIE_PATH, ConsoleCaller
from app.console.charts import Chart, Column, Figure, Table, bar_chart
from app.console.deals import visible_people
from app.console.forms import FormErrors, money_text, option_text
from app.console.pages import NAV, NavItem, console_router, render
from app.db import ReportSessionDep
from app.errors import DomainError
from app.identity.models import Team
from app.identity.policy import policy
from app.processes.models import Process
from app.reports import service
from app.reports.router import FIRST_DAY, LAST_DAY, READERS
from app.reports.schemas import BlockerRow, Filters, ForecastRow, FunnelRow, PipelineRow, TimeInStepRow

router = console_router()
NAV.append(NavItem("Reports", f"{COOKIE_PATH}/reports/pipeline", READERS))
CHARTED_CODES = 15  # requirement codes the blockers chart draws (the table lists them all)
Drawn = tuple[list[Chart], Table, list[str]]  # a report's charts, its table, and sentences of its totals


@dataclass(frozen=True)
class ReportPage:
    """A report as a page: its title, what it answers, how it reads the period, and how it is drawn."""

    title: str
    summary: str
    period: str
    draw: Callable[[Sequence[Any], dict[str, int]], Drawn]


def _share(value: float | None) -> str:
    """A share as a percentage with one decimal."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _days(value: float | None) -> str:
    """Days as the API gives them, or a dash for none."""
    return "—" if value is None else f"{value:g}"


def _by_process(rows: Sequence[Any]) -> dict[str, list[Any]]:
    """The rows of each process, in the report's order (by process, then by the order of the steps)."""
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.process, []).append(row)
    return groups


def _of(process: str, groups: dict[str, list[Any]]) -> str:
    """What a chart's title adds to say which process it draws, when the report holds more than one."""
    return f" ({process})" if len(groups) > 1 else ""


def _steps(rows: Sequence[Any]) -> list[str]:
    """The steps of rows, in their order, each once."""
    return list(dict.fromkeys(row.step for row in rows))


def _plural(count: int, word: str) -> str:
    """A count and its noun: 1 deal, 2 deals."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _draw_pipeline(rows: Sequence[PipelineRow], totals: dict[str, int]) -> Drawn:
    groups, charts = _by_process(rows), []
    for number, (process, found) in enumerate(groups.items()):
        steps = _steps(found)
        deals = {step: sum(r.deals for r in found if r.step == step) for step in steps}
        charts.append(bar_chart(f"pipeline-{number}", f"Open deals by step{_of(process, groups)}",
                                "Open deals in each step, the first step at the top.", ["open deals"],
                                [Figure(option_text(s), [deals[s]], [_plural(deals[s], "deal")]) for s in steps]))
        for currency in sorted({r.currency for r in found if r.currency}):
            value = {r.step: r.value for r in found if r.currency == currency}
            charts.append(bar_chart(
                f"pipeline-{number}-{currency}", f"Value of open deals by step, {currency}{_of(process, groups)}",
                f"The value of the open deals in {currency} in each step.", [f"value ({currency})"],
                [Figure(option_text(s), [value[s]], [money_text(value[s], currency)]) for s in steps if s in value]))
    table = Table("Open deals and their value by step and currency",
                  (Column("Step"), Column("Process"), Column("Phase"), Column("Currency"), Column("Deals", True),
                   Column("Value", True)),
                  tuple((option_text(r.step), r.process, r.phase, r.currency or "no value", f"{r.deals:,}",
                         money_text(r.value, r.currency) if r.currency else "—") for r in rows))
    return charts, table, []


def _draw_funnel(rows: Sequence[FunnelRow], totals: dict[str, int]) -> Drawn:
    groups = _by_process(rows)
    charts = [bar_chart(f"funnel-{number}", f"Deals entering each step and moving on{_of(process, groups)}",
                        "For each step, the deals that came to stand in it in the period, and those of them that "
                        "moved on to a later step.", ["entered", "moved on"],
                        [Figure(option_text(r.step), [r.entered, r.reached_next],
                                [f"{r.entered:,} entered",
                                 f"{r.reached_next:,} moved on ({_share(r.reached_next_share)})"])
                         for r in found])
              for number, (process, found) in enumerate(groups.items())]
    table = Table("Deals entering each step in the period, and what became of them since",
                  (Column("Step"), Column("Process"), Column("Entered", True), Column("Moved on", True),
                   Column("Won", True), Column("Lost", True), Column("Disqualified", True),
                   Column("Moved on share", True), Column("Won share", True), Column("Lost share", True),
                   Column("Disqualified share", True)),
                  tuple((option_text(r.step), r.process, f"{r.entered:,}", f"{r.reached_next:,}", f"{r.won:,}",
                         f"{r.lost:,}", f"{r.disqualified:,}", _share(r.reached_next_share), _share(r.won_share),
                         _share(r.lost_share), _share(r.disqualified_share)) for r in rows))
    return charts, table, []


def _draw_time_in_step(rows: Sequence[TimeInStepRow], totals: dict[str, int]) -> Drawn:
    groups = _by_process(rows)

    def said(days: float | None, what: str) -> str:
        return f"{what} {days:g} days" if days is not None else f"{what}: no stay ended in the period"

    charts = [bar_chart(f"time-in-step-{number}", f"Days in each step: median and 90th percentile"
                                                  f"{_of(process, groups)}",
                        "For each step, how long the stays that ended in the period took: the median and the 90th "
                        "percentile, in days.", ["median", "90th percentile"],
                        [Figure(option_text(r.step), [r.median_days, r.p90_days],
                                [said(r.median_days, "median"), said(r.p90_days, "90th percentile")])
                         for r in found])
              for number, (process, found) in enumerate(groups.items())]
    table = Table("Stays in each step that ended in the period, and the open deals in it now",
                  (Column("Step"), Column("Process"), Column("Stays ended", True), Column("Median days", True),
                   Column("90th percentile days", True), Column("Open now", True),
                   Column("Past the 90th percentile now", True)),
                  tuple((option_text(r.step), r.process, f"{r.stays:,}", _days(r.median_days), _days(r.p90_days),
                         f"{r.open_now:,}", f"{r.past_p90_now:,}") for r in rows))
    return charts, table, []


def _draw_blockers(rows: Sequence[BlockerRow], totals: dict[str, int]) -> Drawn:
    shown = [r for r in rows if r.open_deals or r.refusals][:CHARTED_CODES]
    charts = [bar_chart("blockers", "The requirements holding the most open deals",
                        f"The requirement codes (at most {CHARTED_CODES}) that hold the most open deals at their next "
                        "gate now, and the moves each refused in the period.", ["open deals held", "refused moves"],
                        [Figure(r.code, [r.open_deals, r.refusals],
                                [_plural(r.open_deals, "open deal") + " held", _plural(r.refusals, "refused move")])
                         for r in shown])] if shown else []
    table = Table("Requirement codes: the open deals they hold now, and the moves they refused in the period",
                  (Column("Requirement"), Column("Open deals held", True), Column("Refused moves", True),
                   Column("Deals refused", True)),
                  tuple((r.code, f"{r.open_deals:,}", f"{r.refusals:,}", f"{r.refused_deals:,}") for r in rows))
    unjudged = totals.get("open_deals_not_judged_yet", 0)
    notes = [f"{_plural(unjudged, 'open deal')} not judged yet (unchanged since before blocking codes were kept; "
             "the command dealgate judge-gates judges them all)."] if unjudged else []
    return charts, table, notes


def _draw_forecast(rows: Sequence[ForecastRow], totals: dict[str, int]) -> Drawn:
    groups, charts = _by_process(rows), []
    for number, (process, found) in enumerate(groups.items()):
        for currency in sorted({r.currency for r in found if r.currency}):
            mine = [r for r in found if r.currency == currency]
            charts.append(bar_chart(
                f"forecast-{number}-{currency}", f"Weighted value by step, {currency}{_of(process, groups)}",
                f"For each step, the value of its open deals in {currency} and that value weighted by the chance "
                "of a win from the step.", ["value", "weighted value"],
                [Figure(option_text(r.step), [r.value, r.weighted_value],
                        [money_text(r.value, currency),
                         f"{money_text(r.weighted_value, currency)} weighted ({_share(r.probability)})"
                         if r.weighted_value is not None else "no chance of a win known"]) for r in mine]))
    table = Table("Open deals by step and currency, weighted by the chance of a win from the step",
                  (Column("Step"), Column("Process"), Column("Currency"), Column("Deals", True), Column("Value", True),
                   Column("Chance of a win", True), Column("Chance from"), Column("Closed deals sampled", True),
                   Column("Of them won", True), Column("Weighted value", True)),
                  tuple((option_text(r.step), r.process, r.currency or "no value", f"{r.deals:,}",
                         money_text(r.value, r.currency) if r.currency else "—", _share(r.probability), r.source,
                         f"{r.sample:,}", f"{r.wins:,}",
                         money_text(r.weighted_value, r.currency) if r.currency and r.weighted_value is not None
                         else "—") for r in rows))
    weighted: dict[str, int] = {}
    for r in rows:
        if r.currency and r.weighted_value is not None:
            weighted[r.currency] = weighted.get(r.currency, 0) + r.weighted_value
    notes = ["The weighted pipeline: " + ", ".join(money_text(v, c) for c, v in sorted(weighted.items())) + "."
             ] if weighted else []
    return charts, table, notes


PERIOD = f"the period (the last {service.DEFAULT_PERIOD_DAYS} days when no dates are given)"
PAGES: dict[str, ReportPage] = {
    "pipeline": ReportPage("Pipeline", "Open deals and their value by step.",
                           "With dates, only the deals expected to close between them.", _draw_pipeline),
    "funnel": ReportPage("Funnel", "The deals that came to stand in each step, and the share that moved on.",
                         f"Counts the entries into a step in {PERIOD}.", _draw_funnel),
    "time-in-step": ReportPage("Time in step", "How long deals stay in each step: the median and the 90th "
                               "percentile, in days.", f"Counts the stays that ended in {PERIOD}.",
                               _draw_time_in_step),
    "blockers": ReportPage("Blockers", "The requirements holding the most open deals now.",
                           f"Open deals as they stand now; refused moves in {PERIOD}.", _draw_blockers),
    "forecast": ReportPage("Forecast", "Open deals weighted by the chance of a win from their step.",
                           "With dates, only the deals expected to close between them.", _draw_forecast),
}
Name = Literal["pipeline", "funnel", "time-in-step", "blockers", "forecast"]
Text = Annotated[str | None, Query(max_length=200)]


def _choices(session: Session, caller: Caller) -> dict[str, list[str]]:
    """What each filter offers the caller: a manager their team and its people, others the workspace's."""
    teams = select(Team.name).where(Team.workspace_id == caller.workspace_id).order_by(Team.name)
    if caller.role == "manager":
        teams = teams.where(Team.id == caller.team_id)
    return {"team": list(session.scalars(teams)), "owner": visible_people(session, caller),
            "process": list(session.scalars(select(Process.key).where(Process.workspace_id == caller.workspace_id)
                                            .order_by(Process.key)))}


def _filters(shown: dict[str, str | None]) -> tuple[Filters | None, FormErrors]:
    """The report's filters from the form's fields (blank ones left out), or what is wrong with them; days within
    the bounds the API's filters take."""
    try:
        filters = Filters.model_validate({name: value for name, value in shown.items() if value})
    except ValidationError as invalid:
        return None, FormErrors({str(e["loc"][0]): e["msg"] for e in invalid.errors()})
    errors = FormErrors({name: f"a day from {FIRST_DAY} to {LAST_DAY}" for name in ("since", "until")
                         if (day := getattr(filters, name)) is not None and not FIRST_DAY <= day <= LAST_DAY})
    return (None if errors else filters), errors


@router.get("/reports/{name}", openapi_extra=policy(READERS))
def report_page(request: Request, name: Name, session: ReportSessionDep, caller: ConsoleCaller, team: Text = None,
                owner: Text = None, process: Text = None, since: Text = None, until: Text = None) -> Response:
    """A report drawn as charts, its figures in a table, with the API's filters."""
    page = PAGES[name]
    shown = {"team": team, "owner": owner, "process": process, "since": since, "until": until}
    filters, errors = _filters({key: (value or "").strip() or None for key, value in shown.items()})
    choices = _choices(session, caller)
    charts: list[Chart] = []
    table, notes, generated_at, status = None, [], None, 200
    if filters is not None:
        try:
            rows, totals, generated_at = service.run(session, caller, name, filters, request.app.state.settings)
            charts, table, notes = page.draw(rows, totals)
        except DomainError as refused:
            errors[""] = refused.detail
            for error in refused.extensions.get("errors", []):
                errors[str(error.get("pointer", ""))] = error["message"]
            status = refused.status
    else:
        status = 422
    return render(request, "reports.html", status, name=name, page=page, pages=PAGES, shown=shown, errors=errors,
                  choices=choices, charts=charts, table=table, notes=notes,
                  generated_at=generated_at, filtered=any(shown.values()))
