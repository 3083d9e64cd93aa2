"""Each report as SQL aggregation over the caller's deals: a manager's teams, or the workspace for ops and admins.

The filters narrow the deals (team, owner, process: the deal's current owner and process); the period, days in
UTC with both ends included, selects the events a report counts (entries into steps, stays that ended, refusals,
overrides, closings, deals created). What the pipeline holds and is worth (pipeline, by owner, forecast) is
narrowed by the period only when dates are given, to the deals expected to close in it; the other figures of
what stands now (the open deals of blockers and time in step, stale deals) cover every open deal.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, case, cast, func, literal, or_, select, true
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, aliased

from app.caller import Caller
from app.db import utcnow
from app.engine.definition import ProcessDefinition
from app.errors import InvalidInput, Unavailable
from app.identity.models import Team, User
from app.identity.policy import visible_owners
from app.opportunities.models import MOVES, STATUSES, HistoryEntry, MoveRefusal, Opportunity
from app.phases.diagnose.models import Qualification
from app.processes.models import ProcessVersion
from app.processes.service import default_definition, get_definition
from app.reports.schemas import (BlockerRow, Filters, ForecastRow, FunnelRow, OutcomeRow, OverrideRow,
                                 OwnerPipelineRow, PipelineRow, QualificationRow, StaleRow, TimeInStepRow)
from app.reports.sql import json_texts, later_of, moment, nearest_rank, ranked, seconds_between
from app.settings import Settings

DEFAULT_PERIOD_DAYS = 90  # a period report without dates covers the last 90 days, today included
CLOSED = tuple(status for status in STATUSES if status != "open")
ENTRIES = ("create", "forward")  # the entries that bring a deal to a step by its creation or a forward move
BOUNDARIES = ("create", "forward", "back", "reopen", "lost", "disqualified")  # entries that start or end a stay
DAY = 86_400.0
UNKNOWN_STEP = 10_000  # where a step the newest version lacks sorts: after every step it has

O = Opportunity  # noqa: E741 (read as the table's name in the queries below)
H = HistoryEntry


@dataclass(frozen=True)
class Scope:
    """Whose deals a report reads and the period it counts."""

    caller: Caller
    filters: Filters
    team_owners: Select[Any] | None
    dialect: str
    now: datetime
    settings: Settings

    @property
    def workspace_id(self) -> uuid.UUID:
        """The caller's workspace."""
        return self.caller.workspace_id

    def deals(self) -> list[ColumnElement[bool]]:
        """The conditions on an opportunity that keep the caller's filtered deals."""
        conditions = [O.workspace_id == self.workspace_id, visible_owners(self.caller, O.owner)]
        if self.filters.owner is not None:
            conditions.append(O.owner == self.filters.owner)
        if self.team_owners is not None:
            conditions.append(O.owner.in_(self.team_owners))
        if self.filters.process is not None:
            conditions.append(O.process_key == self.filters.process)
        return conditions

    def period(self, column: Any) -> list[ColumnElement[bool]]:
        """A timestamp within the period (the last 90 days when no dates were given)."""
        until = self.filters.until or self.now.date()
        since = self.filters.since or until - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        return [column >= moment(_midnight(since)), column < moment(_midnight(until + timedelta(days=1)))]

    def close_dates(self) -> list[ColumnElement[bool]]:
        """For what the pipeline holds: the deals expected to close within the period, when dates were given
        (deals without an expected close date are then left out)."""
        conditions = []
        if self.filters.since is not None:
            conditions.append(O.expected_close_date >= self.filters.since)
        if self.filters.until is not None:
            conditions.append(O.expected_close_date <= self.filters.until)
        return conditions

    def history(self) -> list[ColumnElement[bool]]:
        """History entries of the scope's deals (with O, the deal each belongs to)."""
        return [H.workspace_id == self.workspace_id, H.opportunity_id == O.id, *self.deals()]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def scope_of(session: Session, caller: Caller, filters: Filters, settings: Settings) -> Scope:
    """The scope of a report; refuses a period that ends before it starts, or a team that does not exist."""
    if filters.since is not None and filters.until is not None and filters.since > filters.until:
        raise InvalidInput("since: the period starts after it ends.",
                           errors=[{"pointer": "since", "in": "query", "message": "after until"}])
    team_owners = None
    if filters.team is not None:
        team_id = session.scalar(select(Team.id).where(Team.workspace_id == caller.workspace_id,
                                                       Team.name == filters.team))
        if team_id is None:
            raise InvalidInput(f"team: no team named {filters.team!r}.",
                               errors=[{"pointer": "team", "in": "query", "message": "no such team"}])
        team_owners = select(User.handle).where(User.workspace_id == caller.workspace_id, User.team_id == team_id)
    return Scope(caller, filters, team_owners, session.get_bind().dialect.name, utcnow(), settings)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _days(seconds: float | None) -> float | None:
    return round(seconds / DAY, 2) if seconds is not None else None


def _latest(session: Session, scope: Scope) -> dict[str, ProcessDefinition]:
    """The newest published version of each process of the workspace: the order of its steps."""
    newest = session.execute(select(ProcessVersion.process_key, func.max(ProcessVersion.version))
                             .where(ProcessVersion.workspace_id == scope.workspace_id,
                                    ProcessVersion.status == "published")
                             .group_by(ProcessVersion.process_key)).all()
    return {key: get_definition(session, scope.workspace_id, key, version) for key, version in newest}


def _in_order(rows: list[Any], latest: dict[str, ProcessDefinition]) -> list[Any]:
    """Rows by process, then by the order of their steps (a step the newest version lacks goes last), then by
    currency."""
    def position(row: Any) -> tuple[str, int, str, str]:
        definition = latest.get(row.process)
        known = definition is not None and definition.has_step(row.step)
        return (row.process, definition.position(row.step) if known else UNKNOWN_STEP,  # type: ignore[union-attr]
                row.step, getattr(row, "currency", None) or "")
    return sorted(rows, key=position)


def pipeline(session: Session, scope: Scope) -> list[PipelineRow]:
    """Open deals by process, phase, step and currency."""
    rows = session.execute(
        select(O.process_key, O.phase, O.step, O.value_currency, func.count(), _value())
        .where(*scope.deals(), O.status == "open", *scope.close_dates())
        .group_by(O.process_key, O.phase, O.step, O.value_currency)).all()
    found = [PipelineRow(process=p, phase=ph, step=s, currency=c, deals=n, value=v) for p, ph, s, c, n, v in rows]
    return _in_order(found, _latest(session, scope))


def pipeline_by_owner(session: Session, scope: Scope) -> list[OwnerPipelineRow]:
    """Open deals by owner and currency."""
    rows = session.execute(
        select(O.owner, O.value_currency, func.count(), _value())
        .where(*scope.deals(), O.status == "open", *scope.close_dates())
        .group_by(O.owner, O.value_currency)).all()
    return [OwnerPipelineRow(owner=o, currency=c, deals=n, value=v)
            for o, c, n, v in sorted(rows, key=lambda row: (row[0], row[1] or ""))]


def funnel(session: Session, scope: Scope) -> list[FunnelRow]:
    """Per step: the deals brought to it in the period (by their creation or a forward move; a deal once per
    step, from its first such entry in the period), the share that moved forward out of it after that, and the
    share won, lost or disqualified now."""
    entered = (select(H.opportunity_id, O.process_key, O.status, H.to_step.label("step"),
                      func.min(H.seq).label("seq"))
               .where(*scope.history(), H.kind.in_(ENTRIES), *scope.period(H.at))
               .group_by(H.opportunity_id, O.process_key, O.status, H.to_step).subquery())
    left = (select(H.opportunity_id, H.from_step, func.max(H.seq).label("seq"))  # each deal's last move out of a step
            .where(H.workspace_id == scope.workspace_id, H.kind == "forward")
            .group_by(H.opportunity_id, H.from_step).subquery())
    status = entered.c.status
    rows = session.execute(
        select(entered.c.process_key, entered.c.step, func.count(), _count(left.c.seq > entered.c.seq),
               *(_count(status == outcome) for outcome in CLOSED))
        .select_from(entered)
        .outerjoin(left, and_(left.c.opportunity_id == entered.c.opportunity_id, left.c.from_step == entered.c.step))
        .group_by(entered.c.process_key, entered.c.step)).all()
    found = [FunnelRow(process=p, step=s, entered=n, reached_next=r, won=w, lost=lo, disqualified=d,
                       reached_next_share=_share(r, n), won_share=_share(w, n), lost_share=_share(lo, n),
                       disqualified_share=_share(d, n)) for p, s, n, r, w, lo, d in rows]
    return _in_order(found, _latest(session, scope))


def _value() -> ColumnElement[int]:
    """The deals' values added up, in minor units (an integer on every backend)."""
    return cast(func.coalesce(func.sum(O.value_amount), 0), BigInteger)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def time_in_step(session: Session, scope: Scope) -> list[TimeInStepRow]:
    """Per step: the median and 90th percentile of stays that ended in the period (a stay runs from the entry
    that brought or returned the deal to the step, a reopening too, to the next such entry or its close), the
    open deals in it now, and those whose current stay is longer than the 90th percentile."""
    ending = (select(H.opportunity_id).where(H.workspace_id == scope.workspace_id, H.kind.in_(BOUNDARIES),
                                             *scope.period(H.at)))
    bounds = (select(O.process_key, H.to_step.label("step"), H.to_status, H.at.label("started"),
                     func.lead(H.at).over(partition_by=H.opportunity_id, order_by=H.seq).label("ended"))
              .where(*scope.history(), H.kind.in_(BOUNDARIES), H.opportunity_id.in_(ending)).subquery())
    stays = (select(bounds.c.process_key, bounds.c.step,
                    seconds_between(bounds.c.ended, bounds.c.started).label("seconds"))
             .where(bounds.c.to_status == "open", bounds.c.ended.is_not(None), *scope.period(bounds.c.ended)))
    stay = ranked(stays, ["process_key", "step"], "seconds", scope.dialect)
    measured = {(p, s): (n, median, p90) for p, s, n, median, p90 in session.execute(
        select(stay.c.process_key, stay.c.step, func.count(), nearest_rank(stay, "seconds", 5, scope.dialect),
               nearest_rank(stay, "seconds", 9, scope.dialect)).group_by(stay.c.process_key, stay.c.step)).all()}
    stay_started = (select(func.max(H.at)).where(H.workspace_id == scope.workspace_id, H.opportunity_id == O.id,
                                                H.kind.in_(BOUNDARIES)).scalar_subquery())
    p90_of_step = case(*[(and_(O.process_key == p, O.step == s), p90) for (p, s), (_, _, p90) in measured.items()])
    past_p90 = _count(seconds_between(moment(scope.now), stay_started) > p90_of_step) if measured else literal(0)
    waiting = session.execute(
        select(O.process_key, O.step, func.count(), past_p90)
        .where(*scope.deals(), O.status == "open")
        .group_by(O.process_key, O.step)).all()
    now = {(p, s): (n, past) for p, s, n, past in waiting}
    found = []
    for key in measured.keys() | now.keys():
        n, median, p90 = measured.get(key, (0, None, None))
        open_now, past = now.get(key, (0, 0))
        found.append(TimeInStepRow(process=key[0], step=key[1], stays=n, median_days=_days(median),
                                   p90_days=_days(p90), open_now=open_now, past_p90_now=past))
    return _in_order(found, _latest(session, scope))


def blockers(session: Session, scope: Scope) -> tuple[list[BlockerRow], dict[str, int]]:
    """The requirement codes holding open deals now and refusing moves in the period, most first."""
    held = json_texts(O.blocking, scope.dialect)
    holding, unjudged = {}, 0
    for code, deals, not_judged in session.execute(
            select(held.c.value, func.count(), _count(O.blocking.is_(None))).select_from(O).outerjoin(held, true())
            .where(*scope.deals(), O.status == "open").group_by(held.c.value)).all():
        if code is None:  # the deals held by nothing, and those not judged yet
            unjudged = not_judged
        else:
            holding[code] = deals
    refused = json_texts(MoveRefusal.codes, scope.dialect)
    refusing = {code: (n, deals) for code, n, deals in session.execute(
        select(refused.c.value, func.count(), func.count(MoveRefusal.opportunity_id.distinct()))
        .select_from(MoveRefusal).join(O, and_(O.workspace_id == MoveRefusal.workspace_id,
                                              O.id == MoveRefusal.opportunity_id))
        .join(refused, true())
        .where(MoveRefusal.workspace_id == scope.workspace_id, *scope.deals(), *scope.period(MoveRefusal.at))
        .group_by(refused.c.value)).all()}
    rows = [BlockerRow(code=code, open_deals=holding.get(code, 0), refusals=refusing.get(code, (0, 0))[0],
                       refused_deals=refusing.get(code, (0, 0))[1]) for code in holding.keys() | refusing.keys()]
    rows.sort(key=lambda row: (-row.open_deals, -row.refusals, row.code))
    return rows, {"open_deals_not_judged_yet": unjudged}


def qualification(session: Session, scope: Scope) -> list[QualificationRow]:
    """Go for the no, for the deals created in the period: how many have both urgency and resources, and how many
    were disqualified, against the 20-30% the method expects to qualify; and, of those answered, the median and 90th
    percentile of the days from the deal's creation to its qualification's answers (answered_at)."""
    q = Qualification
    created = (select(O.process_key, O.status, q.urgency, q.resources, q.answered_at.is_not(None).label("timed"),
                      seconds_between(q.answered_at, O.created_at).label("seconds"))
               .outerjoin(q, and_(q.workspace_id == scope.workspace_id, q.opportunity_id == O.id))
               .where(*scope.deals(), *scope.period(O.created_at)))
    deal = ranked(created, ["process_key", "timed"], "seconds", scope.dialect)
    urgency, resources, timed = deal.c.urgency, deal.c.resources, deal.c.timed
    rows = session.execute(
        select(deal.c.process_key, func.count(), _count(and_(urgency != "unknown", resources != "unknown")),
               _count(and_(urgency == "yes", resources == "yes")), _count(deal.c.status == "disqualified"),
               nearest_rank(deal, "seconds", 5, scope.dialect, timed),
               nearest_rank(deal, "seconds", 9, scope.dialect, timed))
        .group_by(deal.c.process_key).order_by(deal.c.process_key)).all()
    return [QualificationRow(process=p, deals=n, diagnosed=dx, qualified=qd, qualified_share=_share(qd, dx),
                             disqualified=dq, disqualified_share=_share(dq, n), qualify_days_median=_days(median),
                             qualify_days_p90=_days(p90)) for p, n, dx, qd, dq, median, p90 in rows]


def overrides(session: Session, scope: Scope) -> list[OverrideRow]:
    """Requirements overridden in the period, by who overrode them."""
    codes = json_texts(H.overridden, scope.dialect)
    rows = session.execute(
        select(H.actor, codes.c.value, func.count(), func.count(H.opportunity_id.distinct()))
        .select_from(H).join(O, and_(O.workspace_id == H.workspace_id, O.id == H.opportunity_id))
        .join(codes, true())
        .where(*scope.history(), *scope.period(H.at))
        .group_by(H.actor, codes.c.value)
        .order_by(func.count().desc(), H.actor, codes.c.value)).all()
    return [OverrideRow(actor=a, code=c, overrides=n, deals=d) for a, c, n, d in rows]


def outcomes(session: Session, scope: Scope) -> list[OutcomeRow]:
    """Deals closed in the period (their last close, if reopened and closed again): won, lost, disqualified, the
    win rate, and the median and 90th percentile of days from creation to a win."""
    closing = (select(H.opportunity_id, func.max(H.at).label("closed_at"))
               .where(H.workspace_id == scope.workspace_id, H.from_status == "open", H.to_status.in_(CLOSED))
               .group_by(H.opportunity_id).subquery())
    closed = (select(O.process_key, O.status, seconds_between(closing.c.closed_at, O.created_at).label("seconds"))
              .join(closing, and_(O.workspace_id == scope.workspace_id, closing.c.opportunity_id == O.id))
              .where(*scope.deals(), O.status.in_(CLOSED), *scope.period(closing.c.closed_at)))
    deal = ranked(closed, ["process_key", "status"], "seconds", scope.dialect)
    won = deal.c.status == "won"
    rows = session.execute(
        select(deal.c.process_key, *(_count(deal.c.status == status) for status in CLOSED),
               nearest_rank(deal, "seconds", 5, scope.dialect, won), nearest_rank(deal, "seconds", 9, scope.dialect, won))
        .group_by(deal.c.process_key).order_by(deal.c.process_key)).all()
    return [OutcomeRow(process=p, won=w, lost=lo, disqualified=d, win_rate=_share(w, w + lo),
                       won_cycle_median_days=_days(median), won_cycle_p90_days=_days(p90))
            for p, w, lo, d, median, p90 in rows]


def stale(session: Session, scope: Scope, days: int, limit: int) -> tuple[list[StaleRow], dict[str, int]]:
    """Open deals with neither a contact nor a move for more than `days` days, the longest idle first (at most
    `limit`; the totals count them all); a snoozed deal waits for a reason and is left out until its day."""
    moved = (select(H.opportunity_id, func.max(H.at).label("at"))
             .where(H.workspace_id == scope.workspace_id, H.kind.in_(MOVES))
             .group_by(H.opportunity_id).subquery())  # each deal's last move: its latest history entry of a move
    idle = (select(O.id, O.name, O.owner, O.process_key, O.step,
                   later_of(O.last_activity_at, moved.c.at).label("idle_since"))
            .join(moved, moved.c.opportunity_id == O.id)
            .where(*scope.deals(), O.status == "open",
                   or_(O.snoozed_until.is_(None), O.snoozed_until <= scope.now.date())).subquery())
    rows = session.execute(
        select(idle, func.count().over())
        .where(idle.c.idle_since < moment(scope.now - timedelta(days=days)))
        .order_by(idle.c.idle_since, idle.c.id).limit(limit)).all()
    found = [StaleRow(id=i, name=n, owner=o, process=p, step=s, idle_since=since,
                      idle_days=int((scope.now - since).total_seconds() // DAY))
             for i, n, o, p, s, since, _ in rows]
    return found, {"stale_deals": rows[0][-1] if rows else 0}


def forecast(session: Session, scope: Scope) -> list[ForecastRow]:
    """Open deals by step and currency, weighted by the chance of a win from the step: learned from the
    workspace's closed deals that stood in it (Laplace-smoothed, (wins + 1) / (sample + 2)) once they reach the
    minimum sample, the process's default until then."""
    closed = aliased(O)
    learned = {(p, s): (n, w) for p, s, n, w in session.execute(
        select(closed.process_key, H.to_step, func.count(closed.id.distinct()),
               func.count(case((closed.status == "won", closed.id)).distinct()))
        .join(closed, and_(closed.workspace_id == H.workspace_id, closed.id == H.opportunity_id))
        .where(H.workspace_id == scope.workspace_id, closed.workspace_id == scope.workspace_id,
               closed.status.in_(CLOSED), H.to_status.in_(("open", "won")))
        .group_by(closed.process_key, H.to_step)).all()}
    rows = session.execute(
        select(O.process_key, O.step, O.value_currency, func.count(), _value())
        .where(*scope.deals(), O.status == "open", *scope.close_dates())
        .group_by(O.process_key, O.step, O.value_currency)).all()
    latest = _latest(session, scope)
    minimum = scope.settings.forecast_min_sample
    found = []
    for process, step, currency, deals, value in rows:
        sample, wins = learned.get((process, step), (0, 0))
        if sample >= minimum:
            probability, source = round((wins + 1) / (sample + 2), 3), "history"
        else:
            probability = _default_probability(latest.get(process), process, step)
            source = "default" if probability is not None else "none"
        found.append(ForecastRow(process=process, step=step, currency=currency, deals=deals, value=value,
                                 probability=probability, source=source, sample=sample, wins=wins,
                                 weighted_value=round(value * probability) if probability is not None else None))
    return _in_order(found, latest)


def _default_probability(definition: ProcessDefinition | None, process: str, step: str) -> float | None:
    """The chance of a win from a step that the process's newest version states; for the default process in a
    version written before it had one, the built-in default's."""
    default = default_definition()
    for source in (definition, default if process == default.key else None):
        if source is not None and source.has_step(step) and source.step(step).win_probability is not None:
            return source.step(step).win_probability
    return None


REPORTS: dict[str, Callable[..., Any]] = {  # name -> what computes its rows
    "pipeline": pipeline, "pipeline-by-owner": pipeline_by_owner, "funnel": funnel, "time-in-step": time_in_step,
    "blockers": blockers, "qualification": qualification, "overrides": overrides, "outcomes": outcomes,
    "stale": stale, "forecast": forecast}


def run(session: Session, caller: Caller, name: str, filters: Filters, settings: Settings,
        **options: Any) -> tuple[Sequence[Any], dict[str, int], datetime]:
    """A report's rows and totals for the caller, and when they were computed; on PostgreSQL each of its queries
    may run for DEALGATE_REPORT_TIMEOUT_SECONDS at most (503 past it), each sort in DEALGATE_REPORT_WORK_MEM_MB."""
    scope = scope_of(session, caller, filters, settings)
    limit = settings.report_timeout_seconds
    if scope.dialect == "postgresql":
        session.execute(select(func.set_config("statement_timeout", f"{round(limit * 1000)}", True),
                               func.set_config("work_mem", f"{settings.report_work_mem_mb}MB", True)))
    try:
        answer = REPORTS[name](session, scope, **options)
    except OperationalError as failed:
        if "statement timeout" not in str(failed.orig):
            raise
        raise Unavailable(f"The {name} report took longer than {limit:g} seconds (DEALGATE_REPORT_TIMEOUT_SECONDS); "
                          "narrow it with team, owner, process or a shorter period.") from None
    rows, totals = answer if isinstance(answer, tuple) else (answer, {})
    return rows, totals, scope.now
