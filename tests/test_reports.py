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
from time import monotonic as time_now
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from app.main import create_app
from app.opportunities.models import STATUSES, HistoryEntry, MoveRefusal, Opportunity
from app.phases.diagnose.models import Qualification
from app.processes.service import default_process
from app.settings import Settings
from tests.conftest import PEOPLE, WATER_DEAL, Workplace, make_workplace, migrated_database
from tests.method import STEPS

OWNERS = ("rep.alex", "rep.sam", "rep.zoe", "rep.kim")  # two teams' reps, and the Water team's manager
CLOSED = tuple(status for status in STATUSES if status != "open")
DAY = 86_400.0
PROBABILITY = dict(zip(STEPS, (0.05, 0.1, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0)))  # the default process's
SECOND = "field-sale"  # a second process, a copy of the default under another key


def _make_deals(app: FastAPI, workplace: Workplace, count: int, seed: int) -> None:
    """Deals in two processes walked at random by their owners (refused moves) and the admin (overridden moves,
    back, lost, disqualified, reopened); then each deal's history spread over the last months."""
    rng = random.Random(seed)
    admin = TestClient(app, headers=workplace.as_user("admin"))
    assert admin.post("/v1/processes", json={**default_process()[1], "key": SECOND, "title": "Field sale"}
                      ).status_code == 201
    assert admin.post(f"/v1/processes/{SECOND}/versions/1/publish").status_code == 200
    owners = {h: TestClient(app, headers=workplace.as_user(h)) for h in OWNERS}
    for i in range(count):
        owner = OWNERS[i % len(OWNERS)]
        body: dict[str, Any] = {**WATER_DEAL, "name": f"Deal {i}", "process": SECOND if i % 4 == 1 else "complex-sale",
                                "expected_close_date": (date.today() + timedelta(days=rng.randrange(-30, 200))).isoformat()}
        if i % 7 == 3:
            body.pop("value")
        else:
            body["value"] = {"amount": rng.randrange(1, 90) * 100_000, "currency": rng.choice(("EUR", "USD"))}
        if i % 9 == 5:
            body.pop("expected_close_date")
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
    """Each deal's entries spread from a start up to 150 days ago, days apart; its dates follow them as the app
    keeps them (the step's start moves with the step, not with a reopening); an answered qualification was answered
    up to 18 days after the deal's creation."""
    now = datetime.now(UTC)
    with app.state.database.writer() as session:
        entries: dict[uuid.UUID, list[HistoryEntry]] = defaultdict(list)
        for entry in session.scalars(select(HistoryEntry).order_by(HistoryEntry.seq)):
            entries[entry.opportunity_id].append(entry)
        for deal in session.scalars(select(Opportunity)):
            created = at = now - timedelta(days=rng.uniform(20, 150))
            for entry in entries[deal.id]:
                session.execute(update(HistoryEntry).where(HistoryEntry.id == entry.id).values(at=at))
                if entry.kind in ("create", "forward", "back"):
                    entered = at
                at += timedelta(days=rng.uniform(0.2, 18), seconds=rng.randrange(60))
            values: dict[str, Any] = {"created_at": created, "step_entered_at": entered,
                                      "last_activity_at": rng.choice((None, now - timedelta(days=rng.uniform(0, 60))))}
            if rng.random() < 0.1:
                values["blocking"] = None  # judged before the deal kept its codes
            session.execute(update(Opportunity).where(Opportunity.id == deal.id).values(**values))
            answered = created + timedelta(days=rng.uniform(0, 18), seconds=rng.randrange(60))
            session.execute(update(Qualification).where(Qualification.opportunity_id == deal.id,
                                                        Qualification.answered_at.is_not(None))
                            .values(answered_at=answered))
        for refusal in session.scalars(select(MoveRefusal)):
            session.execute(update(MoveRefusal).where(MoveRefusal.id == refusal.id)
                            .values(at=now - timedelta(days=rng.uniform(0, 150))))
        session.commit()


class Data:
    """One workspace's rows of the data set, read back as the database holds them."""

    def __init__(self, app: FastAPI, workspace_id: uuid.UUID) -> None:
        with app.state.database.reader() as session:
            def rows(model: Any, *order: Any) -> list[dict[str, Any]]:
                return [_row(r, model) for r in session.scalars(select(model).where(
                    model.workspace_id == workspace_id).order_by(*order))]
            self.deals = rows(Opportunity)
            self.entries = rows(HistoryEntry, HistoryEntry.opportunity_id, HistoryEntry.seq)
            self.refusals = rows(MoveRefusal)
            self.qualified = {q["opportunity_id"]: (q["urgency"], q["resources"], q["answered_at"])
                              for q in rows(Qualification)}


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
    if day is None:  # left out once dates are given
        return "since" not in filters and "until" not in filters
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
        for d in open_deals:  # the current stay began at the deal's last entry to the step, or its reopening
            started = [e["at"] for e in entries[d["id"]] if e["kind"] in ("create", "forward", "back", "reopen")]
            waiting[(d["process_key"], d["step"])].append(max(started))
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
        waited: dict[str, list[float]] = defaultdict(list)
        for d in deals.values():
            if within(d["created_at"]):
                urgency, resources, answered_at = data.qualified.get(d["id"], ("unknown", "unknown", None))
                assert (answered_at is not None) == ("unknown" not in (urgency, resources))
                c = by_process[d["process_key"]]
                c["deals"] += 1
                c["diagnosed"] += "unknown" not in (urgency, resources)
                c["qualified"] += (urgency, resources) == ("yes", "yes")
                c["disqualified"] += d["status"] == "disqualified"
                if answered_at is not None:
                    waited[d["process_key"]].append((answered_at - d["created_at"]).total_seconds())
        rows = [{"process": p, "deals": c["deals"], "diagnosed": c["diagnosed"], "qualified": c["qualified"],
                 "qualified_share": _share(c["qualified"], c["diagnosed"]), "disqualified": c["disqualified"],
                 "disqualified_share": _share(c["disqualified"], c["deals"]), "expected_low": 0.2,
                 "expected_high": 0.3,
                 "qualify_days_median": _days(_rank(waited[p], 0.5)) if waited[p] else None,
                 "qualify_days_p90": _days(_rank(waited[p], 0.9)) if waited[p] else None}
                for p, c in by_process.items()]
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
        last_move = {oid: max(e["at"] for e in history) for oid, history in entries.items()}
        idle = sorted((max(d["last_activity_at"] or last_move[d["id"]], last_move[d["id"]]), d["id"])
                      for d in open_deals)
        rows = [{"id": str(oid), "name": deals[oid]["name"], "owner": deals[oid]["owner"],
                 "process": deals[oid]["process_key"], "step": deals[oid]["step"], "idle_since": since,
                 "idle_days": int((now - since).total_seconds() // DAY)}
                for since, oid in idle if since < now - timedelta(days=int(filters.get("days", 21)))]
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
                     "until": (date.today() - timedelta(days=10)).isoformat()}),
          ("ops.lee", {"process": SECOND, "since": (date.today() - timedelta(days=45)).isoformat()}),
          ("rep.kim", {"until": (date.today() - timedelta(days=20)).isoformat()})]


def _order(name: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """Where a row goes in its report: steps in the order of the sale, the most frequent first, the longest idle
    first."""
    if name in ("pipeline", "funnel", "time-in-step", "forecast"):
        return row["process"], STEPS.index(row["step"]), row.get("currency") or ""
    return {"pipeline-by-owner": lambda: (row["owner"], row["currency"] or ""),
            "blockers": lambda: (-row["open_deals"], -row["refusals"], row["code"]),
            "overrides": lambda: (-row["overrides"], row["actor"], row["code"]),
            "stale": lambda: (row["idle_since"], row["id"])}.get(name, lambda: (row["process"],))()


def _same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    """The rows are equal, in order: days within the width of their rounding (float seconds on either side),
    times to the microsecond."""
    def equal(key: str, a: Any, b: Any) -> bool:
        if key.endswith("_days") and a is not None and b is not None:
            return abs(a - b) <= 0.011
        if isinstance(b, datetime):
            return datetime.fromisoformat(a) == b
        return bool(a == b)
    return len(got) == len(want) and all(g.keys() == w.keys() and all(equal(k, g[k], w[k]) for k in g)
                                         for g, w in zip(got, want))


def _check(reader: TestClient, name: str, data: Data, who: str, filters: dict[str, str],
           **options: int) -> dict[str, Any]:
    """One report's answer against the independent computation, in JSON and in CSV; returns the answer."""
    answer = reader.get(f"/v1/reports/{name}", params={**filters, **options})
    assert answer.status_code == 200, (name, answer.text)
    body = answer.json()
    want = sorted(expected(name, data, who, {**filters, **options}, datetime.fromisoformat(body["generated_at"])),
                  key=lambda row: _order(name, row))
    if name == "stale":
        assert body["totals"] == {"stale_deals": len(want)}
        want = want[:options.get("limit", 100)]
        want = [{**row, "id": str(row["id"])} for row in want]
    assert _same(body["rows"], want), (name, who, filters, body["rows"], want)
    if name == "blockers":
        assert body["totals"] == {"open_deals_not_judged_yet": sum(
            d["blocking"] is None for d in data.deals if d["status"] == "open" and _visible(d, who, filters))}
    as_csv = reader.get(f"/v1/reports/{name}", params={**filters, **options}, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert list(csv.DictReader(io.StringIO(as_csv.text))) == [
        {k: "" if v is None else str(v) for k, v in row.items()} for row in body["rows"]]
    return body


@pytest.mark.parametrize("seed", [11])
def test_every_report_figure_equals_an_independent_computation(app: FastAPI, workplace: Workplace, seed: int) -> None:
    _make_deals(app, make_workplace(app, "Another Company"), 12, seed + 1)  # rows no report of ours may count
    _make_deals(app, workplace, 60, seed)
    data = Data(app, workplace.workspace_id)
    assert {d["status"] for d in data.deals} == {"open", *CLOSED}  # the data set holds every outcome
    assert data.refusals and any(e["overridden"] for e in data.entries)
    assert any(e["kind"] == "reopen" for e in data.entries)
    created = sorted(d["created_at"] for d in data.deals)
    assert created[-1] - created[0] > timedelta(days=60)  # spread over months, across the period's edges
    sources = set()
    for who, filters in SCOPES:
        reader = TestClient(app, headers=workplace.as_user(who))
        for name in REPORTS:
            body = _check(reader, name, data, who, filters)
            sources |= {row["source"] for row in body["rows"] if name == "forecast"}
    assert sources == {"history", "default"}  # learned where 20 closed deals stood in the step, else the default
    admin = TestClient(app, headers=workplace.as_user("admin"))
    assert all(row["qualify_days_p90"] for row in _check(admin, "qualification", data, "admin", {})["rows"])
    few = _check(admin, "stale", data, "admin", {}, days=5, limit=3)
    assert len(few["rows"]) == 3 < few["totals"]["stale_deals"]


def test_reports_are_for_managers_ops_and_admins_and_refuse_bad_filters(app: FastAPI, workplace: Workplace) -> None:
    for who in ("rep.alex", "crm.sync"):
        denied = TestClient(app, headers=workplace.as_user(who)).get("/v1/reports/pipeline")
        assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    for params in ({"since": "2026-05-02", "until": "2026-05-01"}, {"team": "Nobody"}, {"since": "yesterday"},
                   {"until": "9999-12-31"}, {"until": "0001-01-01"}, {"team": "Wa\x00ter"}, {"owner": "rep\nalex"},
                   {"process": "x" * 101}):
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


def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(app: FastAPI, workplace: Workplace) -> None:
    rep = TestClient(app, headers=workplace.as_user("rep.alex"))
    rep.post("/v1/opportunities", json={**WATER_DEAL, "name": "=HYPERLINK(\"http://x\")"})
    with app.state.database.writer() as session:
        session.execute(update(Opportunity).values(last_activity_at=None,
                                                   step_entered_at=datetime.now(UTC) - timedelta(days=40)))
        session.execute(update(HistoryEntry).values(at=datetime.now(UTC) - timedelta(days=40)))
        session.commit()
    admin = TestClient(app, headers=workplace.as_user("admin"))
    assert admin.get("/v1/reports/stale").json()["rows"][0]["name"] == "=HYPERLINK(\"http://x\")"
    [row] = csv.DictReader(io.StringIO(admin.get("/v1/reports/stale", headers={"Accept": "text/csv"}).text))
    assert row["name"] == "'=HYPERLINK(\"http://x\")"


def test_a_report_past_its_time_is_refused_not_left_running(backend: str, app: FastAPI, workplace: Workplace) -> None:
    if backend != "postgresql":
        pytest.skip("the report timeout is PostgreSQL's statement_timeout")
    hurried = create_app(Settings(database_url=app.state.settings.database_url, report_timeout_seconds=0.5,
                                  server_worker=False))
    try:
        with app.state.database.engine.begin() as held:  # the history held, so the report's query waits on it
            held.execute(text("LOCK TABLE history_entry IN ACCESS EXCLUSIVE MODE"))
            started = time_now()
            slow = TestClient(hurried, headers=workplace.as_user("admin")).get("/v1/reports/funnel")
            assert time_now() - started < 10
    finally:
        hurried.state.database.dispose()
    assert slow.status_code == 503 and slow.headers["content-type"] == "application/problem+json"
    assert "DEALGATE_REPORT_TIMEOUT_SECONDS" in slow.json()["detail"]


def test_time_to_qualify_is_the_median_and_90th_percentile_of_the_answered_deals(
        app: FastAPI, workplace: Workplace) -> None:
    rep = TestClient(app, headers=workplace.as_user("rep.alex"))
    under = lambda oid: f"/v1/opportunities/{oid}/qualification"  # noqa: E731
    waits = [0.5, 1, 2, 3, 5, 8, 13, 21, 34, 55]  # days: nearest rank gives 5 and 34 (interpolation 6.5 and 36.1)
    timed = []
    for number, days in enumerate(waits):
        oid = rep.post("/v1/opportunities", json={**WATER_DEAL, "name": f"Answered {number}"}).json()["id"]
        assert rep.put(under(oid), json={"urgency": ("yes", "no")[number % 2], "resources": "no"}).status_code == 201
        timed.append((oid, days))
    half = rep.post("/v1/opportunities", json={**WATER_DEAL, "name": "Half answered"}).json()["id"]
    assert rep.put(under(half), json={"urgency": "yes", "resources": "unknown"}).status_code == 201
    sam = TestClient(app, headers=workplace.as_user("rep.sam"))
    unasked = sam.post("/v1/opportunities", json={**WATER_DEAL, "name": "Not asked yet"}).json()["id"]
    unanswered = [half, unasked]
    reopened = rep.post("/v1/opportunities", json={**WATER_DEAL, "name": "Answered, then open again"}).json()["id"]
    assert rep.put(under(reopened), json={"urgency": "no", "resources": "no"}).status_code == 201
    assert rep.patch(under(reopened), json={"resources": "unknown"}).json()["answered_at"] is None
    unanswered.append(reopened)
    earlier = rep.post("/v1/opportunities", json={**WATER_DEAL, "name": "Created before the period"}).json()["id"]
    assert rep.put(under(earlier), json={"urgency": "yes", "resources": "yes"}).status_code == 201

    start = datetime.combine(date.today() - timedelta(days=80), time(9), UTC)
    with app.state.database.writer() as session:
        for oid, days in timed:
            session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(oid)).values(created_at=start))
            session.execute(update(Qualification).where(Qualification.opportunity_id == uuid.UUID(oid))
                            .values(answered_at=start + timedelta(days=days)))
        for oid in unanswered:
            session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(oid)).values(created_at=start))
        session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(earlier))
                        .values(created_at=start - timedelta(days=30)))
        session.execute(update(Qualification).where(Qualification.opportunity_id == uuid.UUID(earlier))
                        .values(answered_at=start - timedelta(days=30) + timedelta(hours=1)))
        session.commit()

    admin = TestClient(app, headers=workplace.as_user("admin"))
    period = {"since": (start.date() - timedelta(days=1)).isoformat(), "until": date.today().isoformat()}
    [row] = admin.get("/v1/reports/qualification", params=period).json()["rows"]
    assert (row["deals"], row["diagnosed"]) == (13, 10)  # the three open ones count as deals, not in the figures
    assert (row["qualify_days_median"], row["qualify_days_p90"]) == (5.0, 34.0)
    [line] = csv.DictReader(io.StringIO(admin.get("/v1/reports/qualification", params=period,
                                                  headers={"Accept": "text/csv"}).text))
    assert (line["qualify_days_median"], line["qualify_days_p90"]) == ("5.0", "34.0")
    [alone] = admin.get("/v1/reports/qualification", params={**period, "since": (start.date() - timedelta(
        days=31)).isoformat(), "until": (start.date() - timedelta(days=29)).isoformat()}).json()["rows"]
    assert (alone["deals"], alone["qualify_days_median"], alone["qualify_days_p90"]) == (1, 0.04, 0.04)  # an hour
    [none] = admin.get("/v1/reports/qualification", params={**period, "owner": "rep.sam"}).json()["rows"]
    assert (none["deals"], none["qualify_days_median"], none["qualify_days_p90"]) == (1, None, None)
