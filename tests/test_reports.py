"""Every figure of every report equals an independent computation, in Python, over the rows of a data set the
test generates through the API (deals moved forward, back, lost, disqualified and reopened, refused moves,
overrides, qualifications), its timestamps then spread over months; CSV says what JSON says."""

import csv
import io
import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from math import ceil
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.main import create_app
from app.opportunities.models import HistoryEntry, MoveRefusal, Opportunity
from app.phases.diagnose.models import Qualification
from app.settings import Settings
from tests.conftest import PEOPLE, WATER_DEAL, Workplace, migrated_database
from tests.method import STEPS

OWNERS = ("rep.alex", "rep.sam", "rep.zoe")
CLOSED = ("won", "lost", "disqualified")
DAY = 86_400.0
PROBABILITY = dict(zip(STEPS, (0.05, 0.1, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0)))  # the default process's


def _make_deals(app: FastAPI, workplace: Workplace, count: int, seed: int) -> None:
    """Deals walked at random by their owners (refused moves) and the admin (overridden moves, back, lost,
    disqualified, reopened); then each deal's history spread over the last months."""
    rng = random.Random(seed)
    admin = TestClient(app, headers=workplace.as_user("admin"))
    owners = {h: TestClient(app, headers=workplace.as_user(h)) for h in OWNERS}
    for i in range(count):
        owner = OWNERS[i % len(OWNERS)]
        body: dict[str, Any] = {**WATER_DEAL, "name": f"Deal {i}",
                                "expected_close_date": (date.today() + timedelta(days=rng.randrange(-30, 200))).isoformat()}
        if i % 7 == 3:
            body.pop("value")
        else:
            body["value"] = {"amount": rng.randrange(1, 90) * 100_000, "currency": rng.choice(("EUR", "USD"))}
        oid = owners[owner].post("/v1/opportunities", json=body).json()["id"]
        if rng.random() < 0.6:
            urgency, resources = rng.choice(("yes", "no", "unknown")), rng.choice(("yes", "no", "unknown"))
            answer = {"urgency": urgency, "resources": resources}
            if urgency == "yes":
                answer["compelling_event"] = "Regulator deadline"
            if resources == "yes":
                answer["budget_available"] = {"amount": 90_000_000, "currency": "EUR"}
            assert owners[owner].put(f"/v1/opportunities/{oid}/qualification", json=answer).status_code in (200, 201)
        _walk(rng, admin, owners[owner], oid)
    _spread(app, rng)


def _walk(rng: random.Random, admin: TestClient, owner: TestClient, oid: str) -> None:
    moves = f"/v1/opportunities/{oid}/transitions"
    position, status = 0, "open"
    for _ in range(rng.randrange(2, 12)):
        roll = rng.random()
        if status != "open":
            if status == "won" or roll < 0.5:
                return
            assert admin.post(moves, json={"to": STEPS[position], "reason": "They came back"}).status_code == 200
            status = "open"
        elif roll < 0.2:
            tried = owner.post(moves, json={"to": "next"})  # refused, unless the gate happens to hold
            assert tried.status_code in (200, 409), tried.text
            if tried.status_code == 200:
                position, status = STEPS.index(tried.json()["step"]), tried.json()["status"]
        elif roll < 0.65 and position < len(STEPS) - 1:
            position = min(position + rng.choice((1, 2, 3)), len(STEPS) - 1)
            moved = admin.post(moves, json={"to": STEPS[position], "override": "Agreed in the steering meeting"})
            assert moved.status_code == 200, moved.text
            status = moved.json()["status"]
        elif roll < 0.8 and position > 0:
            position -= 1
            assert admin.post(moves, json={"to": STEPS[position], "reason": "Scope changed"}).status_code == 200
        else:
            status = rng.choice(("lost", "disqualified"))
            closing = {"to": status, "reason": "Budget went elsewhere", "reason_code": "no_resources"}
            if status == "lost":
                closing.pop("reason_code")
            assert admin.post(moves, json=closing).status_code == 200


def _spread(app: FastAPI, rng: random.Random) -> None:
    """Each deal's entries spread from a start up to 150 days ago, days apart; its dates follow them."""
    now = datetime.now(UTC)
    with app.state.database.writer() as session:
        entries: dict[uuid.UUID, list[HistoryEntry]] = defaultdict(list)
        for entry in session.scalars(select(HistoryEntry).order_by(HistoryEntry.seq)):
            entries[entry.opportunity_id].append(entry)
        for deal in session.scalars(select(Opportunity)):
            at = now - timedelta(days=rng.uniform(20, 150))
            for entry in entries[deal.id]:
                session.execute(update(HistoryEntry).where(HistoryEntry.id == entry.id).values(at=at))
                if entry.to_status == "open" and entry.kind != "migrate":
                    entered = at
                at += timedelta(days=rng.uniform(0.2, 18), seconds=rng.randrange(60))
            values: dict[str, Any] = {"created_at": entries[deal.id][0].at, "step_entered_at": entered,
                                      "last_activity_at": rng.choice((None, now - timedelta(days=rng.uniform(0, 60))))}
            if rng.random() < 0.1:
                values["blocking"] = None  # judged before the deal kept its codes
            session.execute(update(Opportunity).where(Opportunity.id == deal.id).values(**values))
        for refusal in session.scalars(select(MoveRefusal)):
            session.execute(update(MoveRefusal).where(MoveRefusal.id == refusal.id)
                            .values(at=now - timedelta(days=rng.uniform(0, 150))))
        session.commit()


class Data:
    """The data set's rows, read back as the database holds them."""

    def __init__(self, app: FastAPI) -> None:
        with app.state.database.reader() as session:
            self.deals = [_row(d, Opportunity) for d in session.scalars(select(Opportunity))]
            self.entries = [_row(e, HistoryEntry) for e in session.scalars(select(HistoryEntry).order_by(
                HistoryEntry.opportunity_id, HistoryEntry.seq))]
            self.refusals = [_row(r, MoveRefusal) for r in session.scalars(select(MoveRefusal))]
            self.qualified = {q.opportunity_id: (q.urgency, q.resources) for q in session.scalars(select(Qualification))}


def _row(row: Any, model: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in model.__mapper__.column_attrs}


def _visible(deal: dict[str, Any], who: str, filters: dict[str, str]) -> bool:
    team = PEOPLE[who][1] if PEOPLE[who][0] == "manager" else None
    return ((team is None or PEOPLE[deal["owner"]][1] == team)
            and filters.get("owner", deal["owner"]) == deal["owner"]
            and filters.get("team", PEOPLE[deal["owner"]][1]) == PEOPLE[deal["owner"]][1]
            and filters.get("process", deal["process_key"]) == deal["process_key"])


def _period(filters: dict[str, str], now: datetime) -> tuple[datetime, datetime]:
    until = date.fromisoformat(filters["until"]) if "until" in filters else now.date()
    since = date.fromisoformat(filters["since"]) if "since" in filters else until - timedelta(days=89)
    return datetime.combine(since, time(), UTC), datetime.combine(until + timedelta(days=1), time(), UTC)


def _closing_dates(deal: dict[str, Any], filters: dict[str, str]) -> bool:
    day = deal["expected_close_date"]
    return ("since" not in filters or day >= date.fromisoformat(filters["since"])) and \
        ("until" not in filters or day <= date.fromisoformat(filters["until"]))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _rank(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value at least `share` of them reach."""
    ordered = sorted(values)
    return ordered[ceil(share * len(ordered)) - 1]


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / DAY, 2)


def expected(name: str, data: Data, who: str, filters: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """A report's rows, computed from the data set's rows alone."""
    deals = {d["id"]: d for d in data.deals if _visible(d, who, filters)}
    start, end = _period(filters, now)
    within = lambda at: start <= at < end  # noqa: E731
    entries = defaultdict(list)
    for e in data.entries:
        if e["opportunity_id"] in deals:
            entries[e["opportunity_id"]].append(e)
    open_deals = [d for d in deals.values() if d["status"] == "open"]
    rows: list[dict[str, Any]] = []
    if name in ("pipeline", "pipeline-by-owner", "forecast"):
        keys = {"pipeline": ("process_key", "phase", "step", "value_currency"),
                "pipeline-by-owner": ("owner", "value_currency"), "forecast": ("process_key", "step", "value_currency")}
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
        for d in open_deals:
            if _closing_dates(d, filters):
                group = groups[tuple(d[k] for k in keys[name])]
                group[0] += 1
                group[1] += d["value_amount"] or 0
        names = {"process_key": "process", "value_currency": "currency"}
        rows = [{**{names.get(k, k): v for k, v in zip(keys[name], key)}, "deals": n, "value": value}
                for key, (n, value) in groups.items()]
        if name == "forecast":
            for row in rows:
                row.update(_learned(data, row["process"], row["step"], row["value"]))
    elif name == "funnel":
        counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for oid, history in entries.items():
            firsts: dict[str, int] = {}
            for e in history:
                if e["kind"] in ("create", "forward") and within(e["at"]):
                    firsts.setdefault(e["to_step"], e["seq"])
            for step, seq in firsts.items():
                count = counts[(deals[oid]["process_key"], step)]
                count["entered"] += 1
                count["reached_next"] += any(e["kind"] == "forward" and e["from_step"] == step and e["seq"] > seq
                                             for e in history)
                count[deals[oid]["status"]] += 1
        rows = [{"process": p, "step": s, **{k: c[k] for k in ("entered", "reached_next", *CLOSED)},
                 **{f"{k}_share": _share(c[k], c["entered"]) for k in ("reached_next", *CLOSED)}}
                for (p, s), c in counts.items()]
    elif name == "time-in-step":
        stays: dict[tuple[str, str], list[float]] = defaultdict(list)
        for oid, history in entries.items():
            bounds = [e for e in history if e["kind"] in ("create", "forward", "back", "reopen", "lost", "disqualified")]
            for here, after in zip(bounds, bounds[1:]):
                if here["to_status"] == "open" and within(after["at"]):
                    stays[(deals[oid]["process_key"], here["to_step"])].append((after["at"] - here["at"]).total_seconds())
        waiting: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        for d in open_deals:
            waiting[(d["process_key"], d["step"])].append(d["step_entered_at"])
        for key in stays.keys() | waiting.keys():
            p90 = _rank(stays[key], 0.9) if stays.get(key) else None
            rows.append({"process": key[0], "step": key[1], "stays": len(stays.get(key, [])),
                         "median_days": _days(_rank(stays[key], 0.5)) if stays.get(key) else None,
                         "p90_days": _days(p90), "open_now": len(waiting.get(key, [])),
                         "past_p90_now": sum(p90 is not None and (now - at).total_seconds() > p90
                                             for at in waiting.get(key, []))})
    elif name == "blockers":
        holding = Counter(code for d in open_deals for code in (d["blocking"] or []))
        refused = [r for r in data.refusals if r["opportunity_id"] in deals and within(r["at"])]
        refusing = Counter(code for r in refused for code in r["codes"])
        refused_deals = {code: len({r["opportunity_id"] for r in refused if code in r["codes"]}) for code in refusing}
        rows = [{"code": code, "open_deals": holding[code], "refusals": refusing[code],
                 "refused_deals": refused_deals.get(code, 0)} for code in holding.keys() | refusing.keys()]
    elif name == "qualification":
        by_process: dict[str, Counter[str]] = defaultdict(Counter)
        for d in deals.values():
            if within(d["created_at"]):
                urgency, resources = data.qualified.get(d["id"], ("unknown", "unknown"))
                c = by_process[d["process_key"]]
                c["deals"] += 1
                c["diagnosed"] += "unknown" not in (urgency, resources)
                c["qualified"] += (urgency, resources) == ("yes", "yes")
                c["disqualified"] += d["status"] == "disqualified"
        rows = [{"process": p, "deals": c["deals"], "diagnosed": c["diagnosed"], "qualified": c["qualified"],
                 "qualified_share": _share(c["qualified"], c["diagnosed"]), "disqualified": c["disqualified"],
                 "disqualified_share": _share(c["disqualified"], c["deals"]), "expected_low": 0.2,
                 "expected_high": 0.3} for p, c in by_process.items()]
    elif name == "overrides":
        done = [(e["actor"], code, e["opportunity_id"]) for history in entries.values() for e in history
                if within(e["at"]) for code in (e["overridden"] or [])]
        rows = [{"actor": a, "code": c, "overrides": n, "deals": len({o for a2, c2, o in done if (a2, c2) == (a, c)})}
                for (a, c), n in Counter((a, c) for a, c, _ in done).items()]
    elif name == "outcomes":
        closed: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for oid, history in entries.items():
            d = deals[oid]
            closings = [e["at"] for e in history if e["from_status"] == "open" and e["to_status"] in CLOSED]
            if d["status"] in CLOSED and closings and within(max(closings)):
                closed[d["process_key"]].append((d["status"], (max(closings) - d["created_at"]).total_seconds()))
        for process, outcomes in closed.items():
            n = Counter(status for status, _ in outcomes)
            cycles = [seconds for status, seconds in outcomes if status == "won"]
            rows.append({"process": process, "won": n["won"], "lost": n["lost"], "disqualified": n["disqualified"],
                         "win_rate": _share(n["won"], n["won"] + n["lost"]),
                         "won_cycle_median_days": _days(_rank(cycles, 0.5)) if cycles else None,
                         "won_cycle_p90_days": _days(_rank(cycles, 0.9)) if cycles else None})
    elif name == "stale":
        idle = sorted(((d["last_activity_at"] or d["step_entered_at"], d["id"]) for d in open_deals), key=lambda x: x)
        rows = [{"id": str(oid), "name": deals[oid]["name"], "owner": deals[oid]["owner"],
                 "process": deals[oid]["process_key"], "step": deals[oid]["step"], "idle_since": since,
                 "idle_days": int((now - since).total_seconds() // DAY)}
                for since, oid in idle if since < now - timedelta(days=21)]
    return rows


def _learned(data: Data, process: str, step: str, value: int) -> dict[str, Any]:
    """The forecast's figures for a step: every closed deal of the workspace that stood in it."""
    closed = {d["id"]: d["status"] for d in data.deals if d["status"] in CLOSED and d["process_key"] == process}
    stood = {e["opportunity_id"] for e in data.entries if e["opportunity_id"] in closed and e["to_step"] == step
             and e["to_status"] in ("open", "won")}
    wins = sum(closed[oid] == "won" for oid in stood)
    if len(stood) >= 20:
        probability, source = round((wins + 1) / (len(stood) + 2), 3), "history"
    else:
        probability, source = PROBABILITY[step], "default"
    return {"probability": probability, "source": source, "sample": len(stood), "wins": wins,
            "weighted_value": round(value * probability)}


REPORTS = ("pipeline", "pipeline-by-owner", "funnel", "time-in-step", "blockers", "qualification", "overrides",
           "outcomes", "forecast", "stale")
SCOPES = [("admin", {}), ("rep.kim", {}), ("ops.lee", {"team": "Energy"}), ("admin", {"owner": "rep.sam"}),
          ("admin", {"process": "complex-sale", "since": (date.today() - timedelta(days=60)).isoformat(),
                     "until": (date.today() - timedelta(days=10)).isoformat()})]


def _normal(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as comparable text, in a fixed order (datetimes to the second; days to 0.01, the rounding's width)."""
    def text(value: Any) -> str:
        if isinstance(value, datetime):
            return value.isoformat(timespec="seconds")
        if isinstance(value, str) and value.endswith("Z") and "T" in value:
            return datetime.fromisoformat(value).isoformat(timespec="seconds")
        return repr(value)
    return sorted(repr({k: text(v) for k, v in sorted(row.items())}) for row in rows)


@pytest.mark.parametrize("seed", [11])
def test_every_report_figure_equals_an_independent_computation(app: FastAPI, workplace: Workplace, seed: int) -> None:
    _make_deals(app, workplace, 45, seed)
    data = Data(app)
    assert {d["status"] for d in data.deals} == {"open", *CLOSED}  # the data set holds every outcome
    assert data.refusals and any(e["overridden"] for e in data.entries)
    created = sorted(d["created_at"] for d in data.deals)
    assert created[-1] - created[0] > timedelta(days=60)  # spread over months, across the period's edges
    for who, filters in SCOPES:
        reader = TestClient(app, headers=workplace.as_user(who))
        for name in REPORTS:
            answer = reader.get(f"/v1/reports/{name}", params=filters)
            assert answer.status_code == 200, (name, answer.text)
            body = answer.json()
            now = datetime.fromisoformat(body["generated_at"])
            want = expected(name, data, who, filters, now)
            if name == "stale":
                assert body["totals"] == {"stale_deals": len(want)}
                want = want[:100]
            got = [dict(row) for row in body["rows"]]
            if name in ("time-in-step", "outcomes"):  # days differ by the last digit at most (float seconds)
                for row in got + want:
                    for key in [k for k in row if k.endswith("_days")]:
                        row[key] = None if row[key] is None else round(row[key], 1)
            assert _normal(got) == _normal(want), (name, who, filters)
            if name == "blockers":
                assert body["totals"] == {"open_deals_not_judged_yet": sum(
                    d["blocking"] is None for d in data.deals if d["status"] == "open" and _visible(d, who, filters))}
            as_csv = reader.get(f"/v1/reports/{name}", params=filters, headers={"Accept": "text/csv"})
            assert as_csv.headers["content-type"].startswith("text/csv")
            assert list(csv.DictReader(io.StringIO(as_csv.text))) == [
                {k: "" if v is None else str(v) for k, v in row.items()} for row in body["rows"]]


def test_reports_are_for_managers_ops_and_admins_and_refuse_bad_filters(app: FastAPI, workplace: Workplace) -> None:
    for who in ("rep.alex", "crm.sync"):
        denied = TestClient(app, headers=workplace.as_user(who)).get("/v1/reports/pipeline")
        assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    for params in ({"since": "2026-05-02", "until": "2026-05-01"}, {"team": "Nobody"}, {"since": "yesterday"}):
        refused = ops.get("/v1/reports/funnel", params=params)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert ops.get("/v1/reports/stale", params={"limit": 501}).status_code == 422
    assert ops.get("/v1/reports/stale", headers={"Accept": "application/pdf"}).status_code == 406


def test_reports_query_the_read_replica_when_one_is_set(backend: str, app: FastAPI, workplace: Workplace,
                                                        tmp_path: Path) -> None:
    owner = TestClient(app, headers=workplace.as_user("rep.alex"))
    assert owner.post("/v1/opportunities", json=WATER_DEAL).status_code == 201
    primary = app.state.settings.database_url
    with migrated_database(backend, tmp_path) as replica:  # a replica that has not caught up with anything yet
        split = create_app(Settings(database_url=primary, report_database_url=replica, server_worker=False))
        try:
            admin = TestClient(split, headers=workplace.as_user("admin"))
            assert len(admin.get("/v1/opportunities").json()["items"]) == 1  # the API reads the primary
            assert admin.get("/v1/reports/pipeline").json()["rows"] == []  # the reports, the replica
        finally:
            split.state.report_database.dispose()
            split.state.database.dispose()
    together = TestClient(app, headers=workplace.as_user("admin"))
    assert [row["deals"] for row in together.get("/v1/reports/pipeline").json()["rows"]] == [1]
