"""Each report of /v1/reports over 1,000,000 opportunities and their histories on PostgreSQL, over HTTP,
against one hand-written SQL query computing the same figures (goal: within 1.5 times the query).

A fresh database, migrated by Alembic, gets one workspace (the app's bootstrap), 5 teams of 10 reps with a
manager each, one account per 100 deals, and N deals seeded in SQL (generate_series) over the steps of the
default process complex-sale: open, won (at follow_up only), lost or disqualified, created over the last
365 days, each with the history of its path (its creation into planning, a forward entry a step up to where
it stands, then its close: lost, disqualified, or the forward into follow_up that won it; a few forward
entries overrode requirements), the blocking codes of the open ones, refused moves for one deal in ten and a
qualification for some. Then one uvicorn worker serves the app and an administrator asks for every report
with the default filters (the period reports: the last 90 days, today included). Each report is checked
once against its hand-written query (the same rows and figures, or the run fails), then both are timed in
turn: the median of --runs answers after one warm-up each, the query run by psycopg on the same database.

Usage, from the repository root: .venv/bin/python -m bench.reports [--deals 1000000] [--runs 5]
"""

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time as clock, timedelta
from typing import Any

import httpx2
import psycopg

from app.processes.service import default_definition, default_process
from app.reports.service import DEFAULT_PERIOD_DAYS
from app.settings import get_settings
from bench.transitions import BenchError, _libpq, expect, postgres_database, prepare, serve

GOAL = 1.5
TEAMS, REPS_PER_TEAM = 5, 10
STALE_DAYS, STALE_LIMIT = 21, 100  # the stale report's defaults

DEFINITION = default_definition()
STEPS = [(step.name, step.phase) for step in DEFINITION.steps]
GATES = {step: [requirement["code"] for requirement in requirements]
         for step, requirements in default_process()[1]["gates"].items()}


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000, help="opportunities to seed")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each report and query, after a warm-up")
    return parser.parse_args()


# --- Seeding -------------------------------------------------------------------------------------------------

# Ids: a fixed prefix per table and the row's number, in the order rows are inserted, so every index grows at its
# end. The FK triggers are off while seeding (session_replication_role): every row points at a row seeded first.
SEED_FUNCTIONS = """
CREATE FUNCTION pg_temp.bench_id(tag int, n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
  $$ SELECT (lpad(to_hex(tag), 12, '0') || '7' || lpad(to_hex(n), 19, '0'))::uuid $$;
-- Entry j of a deal with m moves: its creation at created, then each in its own slice of the time to now.
CREATE FUNCTION pg_temp.bench_at(n int, j int, m int, created timestamptz, now timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE AS
  $$ SELECT CASE WHEN j = 0 THEN created ELSE created + (now - created)
       * ((j + 0.9 * ((n::bigint * 7919 + j * 104729) % 997) / 997.0) / (m + 1))::float8 END $$;
"""

SEED_PEOPLE = """
INSERT INTO team (workspace_id, id, name)
  SELECT %(ws)s, pg_temp.bench_id(10, t), 'Team ' || t FROM generate_series(1, %(teams)s) t;
INSERT INTO app_user (workspace_id, id, handle, name, role, team_id, created_at)
  SELECT %(ws)s, pg_temp.bench_id(11, r), 'rep.' || lpad(r::text, 2, '0'), 'Rep ' || r, 'rep',
         pg_temp.bench_id(10, (r - 1) / %(per_team)s + 1), %(now)s
  FROM generate_series(1, %(teams)s * %(per_team)s) r
  UNION ALL
  SELECT %(ws)s, pg_temp.bench_id(12, t), 'manager.' || t, 'Manager ' || t, 'manager', pg_temp.bench_id(10, t), %(now)s
  FROM generate_series(1, %(teams)s) t;
INSERT INTO account (workspace_id, id, name, industry, version, created_at, created_by, updated_at, updated_by)
  SELECT %(ws)s, pg_temp.bench_id(2, a), 'Account ' || a, 'utilities', 1, %(now)s, 'bench', %(now)s, 'bench'
  FROM generate_series(0, (%(deals)s - 1) / 100) a;
"""

# One row a deal: its status, k (the index of its step) and m (its moves after its creation: k forward ones,
# and one more for a loss or a disqualification).
SEED_DEALS = """
CREATE UNLOGGED TABLE bench_deal AS
SELECT n, status, k, CASE WHEN status IN ('lost', 'disqualified') THEN k + 1 ELSE k END AS m, created,
       'rep.' || lpad((n %% %(reps)s + 1)::text, 2, '0') AS owner,
       'manager.' || (n %% %(reps)s / %(per_team)s + 1) AS manager
FROM (SELECT n, status, %(now)s - interval '1 hour' - u3 * interval '365 days' AS created,
             CASE status WHEN 'open' THEN floor(u2 * u2 * 7)::int WHEN 'won' THEN 7
                         WHEN 'lost' THEN 2 + floor(u2 * 5)::int ELSE floor(u2 * 4)::int END AS k
      FROM (SELECT n, random() AS u2, random() AS u3,
                   CASE WHEN u1 < 0.6 THEN 'open' WHEN u1 < 0.7 THEN 'won' WHEN u1 < 0.9 THEN 'lost'
                        ELSE 'disqualified' END AS status
            FROM (SELECT n::int AS n, random() AS u1 FROM generate_series(1, %(deals)s) n) a) b) c;
CREATE UNLOGGED TABLE bench_step (idx int PRIMARY KEY, step text, phase text, gate text[], next_gate text[]);
"""

SEED_OPPORTUNITIES = """
INSERT INTO opportunity (workspace_id, id, name, account_id, owner, value_amount, value_currency, expected_close_date,
                         process_key, process_version, status, phase, step, step_entered_at, last_activity_at,
                         outcome_reason_code, blocking, version, created_at, created_by, updated_at, updated_by)
SELECT %(ws)s, pg_temp.bench_id(1, d.n), 'Deal ' || d.n, pg_temp.bench_id(2, (d.n - 1) / 100), d.owner,
       CASE WHEN d.n %% 10 <> 0 THEN 100000 + d.n::bigint * 7717 %% 50000000 END,
       CASE WHEN d.n %% 10 <> 0 THEN CASE WHEN d.n %% 10 < 7 THEN 'EUR' ELSE 'USD' END END,
       CASE WHEN d.n %% 10 <> 9 THEN (d.created + (30 + d.n %% 170) * interval '1 day')::date END,
       'complex-sale', 1, d.status, s.phase, s.step, entered.at,
       CASE WHEN d.n %% 3 <> 0 THEN entered.at + (%(now)s - entered.at) * ((d.n * 31 %% 100) / 100.0)::float8 END,
       CASE d.status WHEN 'lost' THEN 'price' WHEN 'disqualified' THEN 'no_urgency' END,
       CASE WHEN d.status = 'open' AND d.n %% 50 <> 0 THEN
         to_json((s.next_gate || s.next_gate)[d.n %% cardinality(s.next_gate) + 1 : d.n %% cardinality(s.next_gate)
                                                                                      + d.n %% 4]) END,
       d.m + 1, d.created, d.owner, pg_temp.bench_at(d.n, d.m, d.m, d.created, %(now)s), d.owner
FROM bench_deal d JOIN bench_step s ON s.idx = d.k,
     LATERAL (SELECT pg_temp.bench_at(d.n, d.k, d.m, d.created, %(now)s) AS at) entered
ORDER BY d.n
"""

SEED_HISTORY = """
INSERT INTO history_entry (workspace_id, id, opportunity_id, seq, kind, from_step, from_phase, from_status,
                           to_step, to_phase, to_status, actor, at, reason_code, gates, override_justification,
                           overridden)
SELECT %(ws)s, pg_temp.bench_id(3, d.n::bigint * 16 + j), pg_temp.bench_id(1, d.n), j + 1,
       CASE WHEN j = 0 THEN 'create' WHEN j <= d.k THEN 'forward' ELSE d.status END,
       CASE WHEN j = 0 THEN NULL WHEN j <= d.k THEN prev.step ELSE cur.step END,
       CASE WHEN j = 0 THEN NULL WHEN j <= d.k THEN prev.phase ELSE cur.phase END,
       CASE WHEN j > 0 THEN 'open' END,
       cur.step, cur.phase, CASE WHEN j = d.m AND d.status <> 'open' THEN d.status ELSE 'open' END,
       CASE WHEN overriding THEN d.manager ELSE d.owner END,
       pg_temp.bench_at(d.n, j, d.m, d.created, %(now)s),
       CASE WHEN j > d.k THEN CASE d.status WHEN 'lost' THEN 'price' ELSE 'no_urgency' END END,
       '[]'::json, CASE WHEN overriding THEN 'The customer asked to go ahead.' END,
       CASE WHEN overriding THEN to_json(cur.gate[1 : 1 + d.n %% 2]) END
FROM bench_deal d CROSS JOIN LATERAL generate_series(0, d.m) j
     JOIN bench_step cur ON cur.idx = least(j, d.k) LEFT JOIN bench_step prev ON prev.idx = j - 1,
     LATERAL (SELECT j BETWEEN 1 AND d.k AND (d.n * 7 + j) %% 29 = 0 AS overriding) o
ORDER BY d.n, j
"""

SEED_REFUSALS = """
INSERT INTO move_refusal (workspace_id, id, opportunity_id, process_key, process_version, from_step, to_step,
                          gate_step, codes, actor, at)
SELECT %(ws)s, pg_temp.bench_id(4, d.n::bigint * 4 + r), pg_temp.bench_id(1, d.n), 'complex-sale', 1,
       fs.step, ts.step, ts.step,
       to_json((ts.gate || ts.gate)[d.n %% cardinality(ts.gate) + 1 : d.n %% cardinality(ts.gate) + 1 + d.n %% 2]),
       d.owner, d.created + (%(now)s - d.created) * ((x.s + 0.95) / (d.m + 1))::float8
FROM bench_deal d CROSS JOIN LATERAL generate_series(1, 1 + (d.n %% 20 = 3)::int) r,
     LATERAL (SELECT least((d.n / 10 + r) %% (d.k + 1), 6) AS s) x
     JOIN bench_step fs ON fs.idx = x.s JOIN bench_step ts ON ts.idx = x.s + 1
WHERE d.n %% 10 = 3
ORDER BY d.n, r
"""

SEED_QUALIFICATIONS = """
INSERT INTO qualification (workspace_id, id, opportunity_id, urgency, resources, answered_at, version, created_at,
                           created_by, updated_at, updated_by)
SELECT %(ws)s, pg_temp.bench_id(5, d.n), pg_temp.bench_id(1, d.n), a.urgency, a.resources,
       CASE WHEN 'unknown' NOT IN (a.urgency, a.resources) THEN d.created + (d.n %% 41) * interval '7 hours' END,
       1, d.created, d.owner, d.created, d.owner
FROM bench_deal d
     CROSS JOIN LATERAL (SELECT
       CASE WHEN d.n %% 7 = 0 THEN 'unknown' WHEN d.n %% 7 < 3 THEN 'no' ELSE 'yes' END AS urgency,
       CASE WHEN d.n / 7 %% 5 = 0 THEN 'unknown' WHEN d.n / 7 %% 5 = 1 THEN 'no' ELSE 'yes' END AS resources) a
WHERE (d.k >= 2 OR d.status = 'disqualified') AND d.n %% 5 < 3
ORDER BY d.n
"""

def run_script(connection: psycopg.Connection[Any], script: str, params: dict[str, Any]) -> None:
    """Each statement of a script in turn (a statement with parameters travels alone)."""
    for statement in script.split(";\n"):
        if statement.strip():
            connection.execute(statement, params if "%(" in statement else None)


SEEDED_TABLES = ("team", "app_user", "account", "opportunity", "history_entry", "move_refusal", "qualification")


def seed(url: str, deals: int) -> tuple[uuid.UUID, dict[str, int]]:
    """Seed the deals and their histories in SQL; returns the workspace and the rows of each table."""
    now = datetime.now(UTC)
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        workspace_id = connection.execute("SELECT id FROM workspace").fetchone()[0]  # type: ignore[index]
        params = {"ws": workspace_id, "now": now, "deals": deals, "teams": TEAMS, "per_team": REPS_PER_TEAM,
                  "reps": TEAMS * REPS_PER_TEAM}
        with connection.transaction():
            connection.execute("SET LOCAL session_replication_role = replica")
            connection.execute("SET LOCAL work_mem = '256MB'")
            for script in (SEED_FUNCTIONS, SEED_PEOPLE, SEED_DEALS):
                run_script(connection, script, params)
            with connection.cursor() as cursor:
                cursor.executemany("INSERT INTO bench_step VALUES (%s, %s, %s, %s, %s)", [
                    (index, step, phase, GATES.get(step, []),
                     GATES.get(STEPS[index + 1][0], []) if index + 1 < len(STEPS) else [])
                    for index, (step, phase) in enumerate(STEPS)])
            for statement in (SEED_OPPORTUNITIES, SEED_HISTORY, SEED_REFUSALS, SEED_QUALIFICATIONS):
                connection.execute(statement, params)
            connection.execute("DROP TABLE bench_deal, bench_step")
        # Settle the tables as a database in service is: vacuumed and analysed, nothing pending behind the bulk
        # insert to compete with the timed requests.
        for table in SEEDED_TABLES:
            connection.execute(f"VACUUM ANALYZE {table}")
        connection.execute("CHECKPOINT")
        counts = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                  for table in SEEDED_TABLES}
    return workspace_id, counts


# --- The hand-written queries --------------------------------------------------------------------------------
# Each computes one report's rows for an administrator (the whole workspace) with the default filters. The
# period is [since, until): the first day of the last 90 at midnight UTC to tomorrow's midnight UTC.

HAND: dict[str, str] = {
    "pipeline": """
SELECT process_key, phase, step, value_currency, count(*), coalesce(sum(value_amount), 0)::bigint
FROM opportunity
WHERE workspace_id = %(ws)s AND status = 'open'
GROUP BY process_key, phase, step, value_currency
""",
    "pipeline-by-owner": """
SELECT owner, value_currency, count(*), coalesce(sum(value_amount), 0)::bigint
FROM opportunity
WHERE workspace_id = %(ws)s AND status = 'open'
GROUP BY owner, value_currency
ORDER BY owner, value_currency
""",
    # A deal counts once per step it was brought to in the period (by its creation or a forward move), from its
    # first such entry; it reached the next step if its last forward move out of that step came later.
    "funnel": """
WITH entered AS (
  SELECT h.opportunity_id, o.process_key, o.status, h.to_step AS step, min(h.seq) AS seq
  FROM history_entry h JOIN opportunity o ON o.workspace_id = h.workspace_id AND o.id = h.opportunity_id
  WHERE h.workspace_id = %(ws)s AND h.kind IN ('create', 'forward') AND h.at >= %(since)s AND h.at < %(until)s
  GROUP BY h.opportunity_id, o.process_key, o.status, h.to_step),
left_step AS (
  SELECT opportunity_id, from_step AS step, max(seq) AS seq
  FROM history_entry
  WHERE workspace_id = %(ws)s AND kind = 'forward'
  GROUP BY opportunity_id, from_step)
SELECT e.process_key, e.step, count(*), count(*) FILTER (WHERE l.seq > e.seq),
       count(*) FILTER (WHERE e.status = 'won'), count(*) FILTER (WHERE e.status = 'lost'),
       count(*) FILTER (WHERE e.status = 'disqualified')
FROM entered e LEFT JOIN left_step l ON l.opportunity_id = e.opportunity_id AND l.step = e.step
GROUP BY e.process_key, e.step
""",
    # A stay runs from an entry that starts one to the deal's next such entry; those that ended in the period and
    # were stays of an open deal give the percentiles (nearest rank: percentile_disc). An open deal's current stay
    # started at its latest such entry.
    "time-in-step": """
WITH bounds AS (
  SELECT o.process_key, h.to_step AS step, h.to_status, h.at AS started,
         lead(h.at) OVER (PARTITION BY h.opportunity_id ORDER BY h.seq) AS ended
  FROM history_entry h JOIN opportunity o ON o.workspace_id = h.workspace_id AND o.id = h.opportunity_id
  WHERE h.workspace_id = %(ws)s AND h.kind IN ('create', 'forward', 'back', 'reopen', 'lost', 'disqualified')),
measured AS (
  SELECT process_key, step, count(*) AS stays,
         percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ended - started)::float8) AS median,
         percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM ended - started)::float8) AS p90
  FROM bounds
  WHERE to_status = 'open' AND ended >= %(since)s AND ended < %(until)s
  GROUP BY process_key, step),
waiting AS (
  SELECT o.process_key, o.step, count(*) AS open_now,
         count(*) FILTER (WHERE extract(epoch FROM %(now)s - s.started)::float8 > m.p90) AS past_p90
  FROM opportunity o LEFT JOIN measured m ON m.process_key = o.process_key AND m.step = o.step
       CROSS JOIN LATERAL (
         SELECT max(h.at) AS started FROM history_entry h
         WHERE h.workspace_id = o.workspace_id AND h.opportunity_id = o.id
           AND h.kind IN ('create', 'forward', 'back', 'reopen', 'lost', 'disqualified')) s
  WHERE o.workspace_id = %(ws)s AND o.status = 'open'
  GROUP BY o.process_key, o.step)
SELECT coalesce(m.process_key, w.process_key), coalesce(m.step, w.step), coalesce(m.stays, 0), m.median, m.p90,
       coalesce(w.open_now, 0), coalesce(w.past_p90, 0)
FROM measured m FULL JOIN waiting w ON w.process_key = m.process_key AND w.step = m.step
""",
    # The codes holding open deals now (the row without a code counts the deals not judged yet), beside the
    # codes that refused moves in the period.
    "blockers": """
WITH holding AS (
  SELECT c.code, count(*) AS open_deals, count(*) FILTER (WHERE o.blocking IS NULL) AS unjudged
  FROM opportunity o LEFT JOIN LATERAL json_array_elements_text(
         CASE WHEN json_typeof(o.blocking) = 'array' THEN o.blocking ELSE '[]' END) AS c(code) ON true
  WHERE o.workspace_id = %(ws)s AND o.status = 'open'
  GROUP BY c.code),
refusing AS (
  SELECT c.code, count(*) AS refusals, count(DISTINCT r.opportunity_id) AS refused_deals
  FROM move_refusal r JOIN opportunity o ON o.workspace_id = r.workspace_id AND o.id = r.opportunity_id
       CROSS JOIN LATERAL json_array_elements_text(
         CASE WHEN json_typeof(r.codes) = 'array' THEN r.codes ELSE '[]' END) AS c(code)
  WHERE r.workspace_id = %(ws)s AND r.at >= %(since)s AND r.at < %(until)s
  GROUP BY c.code)
SELECT coalesce(h.code, f.code), CASE WHEN h.code IS NULL AND f.code IS NULL THEN h.unjudged END,
       coalesce(h.open_deals, 0), coalesce(f.refusals, 0), coalesce(f.refused_deals, 0)
FROM holding h FULL JOIN refusing f ON f.code = h.code
""",
    "qualification": """
SELECT o.process_key, count(*),
       count(*) FILTER (WHERE q.urgency <> 'unknown' AND q.resources <> 'unknown'),
       count(*) FILTER (WHERE q.urgency = 'yes' AND q.resources = 'yes'),
       count(*) FILTER (WHERE o.status = 'disqualified'),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM q.answered_at - o.created_at)::float8),
       percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM q.answered_at - o.created_at)::float8)
FROM opportunity o LEFT JOIN qualification q ON q.workspace_id = o.workspace_id AND q.opportunity_id = o.id
WHERE o.workspace_id = %(ws)s AND o.created_at >= %(since)s AND o.created_at < %(until)s
GROUP BY o.process_key
ORDER BY o.process_key
""",
    "overrides": """
SELECT h.actor, c.code, count(*), count(DISTINCT h.opportunity_id)
FROM history_entry h JOIN opportunity o ON o.workspace_id = h.workspace_id AND o.id = h.opportunity_id
     CROSS JOIN LATERAL json_array_elements_text(
       CASE WHEN json_typeof(h.overridden) = 'array' THEN h.overridden ELSE '[]' END) AS c(code)
WHERE h.workspace_id = %(ws)s AND h.at >= %(since)s AND h.at < %(until)s
GROUP BY h.actor, c.code
ORDER BY count(*) DESC, h.actor, c.code
""",
    # A deal's close is its last move from open to a closed status; those in the period count, wins give the
    # cycle from creation.
    "outcomes": """
WITH closing AS (
  SELECT opportunity_id, max(at) AS closed_at
  FROM history_entry
  WHERE workspace_id = %(ws)s AND from_status = 'open' AND to_status IN ('won', 'lost', 'disqualified')
  GROUP BY opportunity_id),
closed AS (
  SELECT o.process_key, o.status, extract(epoch FROM c.closed_at - o.created_at)::float8 AS seconds
  FROM opportunity o JOIN closing c ON c.opportunity_id = o.id
  WHERE o.workspace_id = %(ws)s AND o.status IN ('won', 'lost', 'disqualified')
    AND c.closed_at >= %(since)s AND c.closed_at < %(until)s)
SELECT process_key, count(*) FILTER (WHERE status = 'won'), count(*) FILTER (WHERE status = 'lost'),
       count(*) FILTER (WHERE status = 'disqualified'),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE status = 'won'),
       percentile_disc(0.9) WITHIN GROUP (ORDER BY seconds) FILTER (WHERE status = 'won')
FROM closed
GROUP BY process_key
ORDER BY process_key
""",
    # Idle since the later of the deal's last move (its latest history entry of a move) and its last contact;
    # a snoozed deal waits for a reason and is not stale.
    "stale": """
SELECT id, name, owner, process_key, step, idle_since, count(*) OVER ()
FROM (SELECT o.id, o.name, o.owner, o.process_key, o.step,
             greatest(coalesce(o.last_activity_at, m.at), m.at) AS idle_since
      FROM opportunity o
           LEFT JOIN (SELECT opportunity_id, max(at) AS at FROM history_entry WHERE workspace_id = %(ws)s
                      AND kind NOT IN ('handover', 'follow_up_done')
                 GROUP BY opportunity_id) m ON m.opportunity_id = o.id
      WHERE o.workspace_id = %(ws)s AND o.status = 'open'
            AND (o.snoozed_until IS NULL OR o.snoozed_until <= current_date)) idle
WHERE idle_since < %(stale_cutoff)s
ORDER BY idle_since, id
LIMIT %(stale_limit)s
""",
    # What a step's closed deals teach (Laplace-smoothed) once they reach the minimum sample, else the default
    # process's win probability for the step (the workspace's complex-sale is the built-in one).
    "forecast": """
WITH learned AS (
  SELECT c.process_key, h.to_step AS step, count(DISTINCT c.id) AS sample,
         count(DISTINCT c.id) FILTER (WHERE c.status = 'won') AS wins
  FROM history_entry h JOIN opportunity c ON c.workspace_id = h.workspace_id AND c.id = h.opportunity_id
  WHERE h.workspace_id = %(ws)s AND c.status IN ('won', 'lost', 'disqualified') AND h.to_status IN ('open', 'won')
  GROUP BY c.process_key, h.to_step),
standing AS (
  SELECT process_key, step, value_currency, count(*) AS deals, coalesce(sum(value_amount), 0)::bigint AS value
  FROM opportunity
  WHERE workspace_id = %(ws)s AND status = 'open'
  GROUP BY process_key, step, value_currency),
weighed AS (
  SELECT s.*, coalesce(l.sample, 0) AS sample, coalesce(l.wins, 0) AS wins,
         CASE WHEN coalesce(l.sample, 0) >= %(min_sample)s THEN round((l.wins + 1)::numeric / (l.sample + 2), 3)
              ELSE d.probability::numeric END AS probability,
         CASE WHEN coalesce(l.sample, 0) >= %(min_sample)s THEN 'history'
              WHEN d.probability IS NOT NULL THEN 'default' ELSE 'none' END AS source
  FROM standing s LEFT JOIN learned l ON l.process_key = s.process_key AND l.step = s.step
       LEFT JOIN unnest(%(default_steps)s::text[], %(default_probabilities)s::float8[]) AS d(step, probability)
         ON s.process_key = %(default_process)s AND d.step = s.step)
SELECT process_key, step, value_currency, deals, value, probability::float8, source, sample, wins,
       round(value * probability)::bigint
FROM weighed
""",
}


def _days(seconds: float | None) -> float | None:
    return round(seconds / 86_400.0, 2) if seconds is not None else None


# What is compared of each report: its rows as tuples (sorted, but for stale, whose order is its answer), from the
# HTTP answer and from the hand-written query. Shares are left out: the app divides the counts compared here.
def _from_http(name: str, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows, totals = body["rows"], body["totals"]
    pick: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
        "pipeline": lambda r: (r["process"], r["phase"], r["step"], r["currency"], r["deals"], r["value"]),
        "pipeline-by-owner": lambda r: (r["owner"], r["currency"], r["deals"], r["value"]),
        "funnel": lambda r: (r["process"], r["step"], r["entered"], r["reached_next"], r["won"], r["lost"],
                             r["disqualified"]),
        "time-in-step": lambda r: (r["process"], r["step"], r["stays"], r["median_days"], r["p90_days"],
                                   r["open_now"], r["past_p90_now"]),
        "blockers": lambda r: (r["code"], r["open_deals"], r["refusals"], r["refused_deals"]),
        "qualification": lambda r: (r["process"], r["deals"], r["diagnosed"], r["qualified"], r["disqualified"],
                                    r["qualify_days_median"], r["qualify_days_p90"]),
        "overrides": lambda r: (r["actor"], r["code"], r["overrides"], r["deals"]),
        "outcomes": lambda r: (r["process"], r["won"], r["lost"], r["disqualified"], r["won_cycle_median_days"],
                               r["won_cycle_p90_days"]),
        "stale": lambda r: (r["id"], r["name"], r["owner"], r["process"], r["step"],
                            datetime.fromisoformat(r["idle_since"])),
        "forecast": lambda r: (r["process"], r["step"], r["currency"], r["deals"], r["value"], r["probability"],
                               r["source"], r["sample"], r["wins"], r["weighted_value"]),
    }
    found = [pick[name](row) for row in rows]
    if name == "blockers":
        found.append(("(not judged yet)", totals["open_deals_not_judged_yet"]))
    if name == "stale":
        return [("total", totals["stale_deals"]), *found]
    return sorted(found, key=repr)


def _from_sql(name: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    if name == "time-in-step":
        found = [(p, s, n, _days(median), _days(p90), now, past) for p, s, n, median, p90, now, past in rows]
    elif name == "outcomes":
        found = [(p, w, lo, d, _days(median), _days(p90)) for p, w, lo, d, median, p90 in rows]
    elif name == "qualification":
        found = [(p, n, dx, qd, dq, _days(median), _days(p90)) for p, n, dx, qd, dq, median, p90 in rows]
    elif name == "blockers":
        found = [(code, deals, n, refused) for code, _, deals, n, refused in rows if code is not None]
        found.append(("(not judged yet)", next((unjudged for code, unjudged, *_ in rows if code is None), 0)))
    elif name == "stale":
        return [("total", rows[0][-1] if rows else 0), *((str(i), *rest[:-1]) for i, *rest in rows)]
    else:
        found = [tuple(row) for row in rows]
    return sorted(found, key=repr)


def _same(name: str, http: list[tuple[Any, ...]], hand: list[tuple[Any, ...]]) -> bool:
    """Equal rows; the forecast's probability and weighted value are rounded apart (float and numeric), so they may
    differ in the last place."""
    if name != "forecast":
        return http == hand
    def close(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
        if a[:5] != b[:5] or a[6:9] != b[6:9]:
            return False
        if (a[5] is None) != (b[5] is None) or (a[9] is None) != (b[9] is None):
            return False
        return (a[5] is None or abs(a[5] - b[5]) <= 0.0011) and (a[9] is None or abs(a[9] - b[9]) <= 1)
    return len(http) == len(hand) and all(close(a, b) for a, b in zip(http, hand, strict=True))


# --- Measuring -----------------------------------------------------------------------------------------------

def parameters(workspace_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The hand-written queries' parameters at a moment: the default period, the stale cutoff, the forecast's."""
    until = now.date()
    since = until - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return {"ws": workspace_id, "now": now, "since": datetime.combine(since, clock(), UTC),
            "until": datetime.combine(until + timedelta(days=1), clock(), UTC),
            "stale_cutoff": now - timedelta(days=STALE_DAYS), "stale_limit": STALE_LIMIT,
            "min_sample": get_settings().forecast_min_sample,
            "default_process": DEFINITION.key, "default_steps": [step.name for step in DEFINITION.steps],
            "default_probabilities": [step.win_probability for step in DEFINITION.steps]}


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Milliseconds a call took, and what it answered."""
    started = time.perf_counter()
    answer = call()
    return (time.perf_counter() - started) * 1000, answer


def main() -> int:
    """Seed, check every report against its query, time both, print the medians, the ratios and RESULT lines."""
    args = parse_args()
    results: list[tuple[str, float, float, int]] = []
    with postgres_database() as url:
        admin_key = prepare(url)
        started = time.monotonic()
        workspace_id, counts = seed(url, args.deals)
        print(f"seeded in {time.monotonic() - started:.0f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()),
              flush=True)
        with (serve(url) as (base_url, _pid),
              httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=900,
                            trust_env=False) as client,
              psycopg.connect(_libpq(url), autocommit=True) as connection):
            def http(name: str) -> dict[str, Any]:
                return expect(client.get(f"/v1/reports/{name}"), 200)  # type: ignore[no-any-return]

            def hand(name: str, now: datetime) -> list[tuple[Any, ...]]:
                return connection.execute(HAND[name], parameters(workspace_id, now)).fetchall()

            print(f"{'report':20} {'HTTP ms':>10} {'SQL ms':>10} {'ratio':>6}  rows", flush=True)
            for name in HAND:
                body = http(name)  # the warm-up of both, and the check: the same figures at the same moment
                generated_at = datetime.fromisoformat(body["generated_at"])
                expected, found = _from_http(name, body), _from_sql(name, hand(name, generated_at))
                if not _same(name, expected, found):
                    raise BenchError(f"{name}: the hand-written query disagrees with the report:\n"
                                     f"  report: {expected[:20]}\n  query:  {found[:20]}")
                http_ms, sql_ms = [], []
                for _ in range(args.runs):  # in turn, so that both see the same state of the machine
                    http_ms.append(timed(lambda: http(name))[0])
                    sql_ms.append(timed(lambda: hand(name, datetime.now(UTC)))[0])
                median_http, median_sql = statistics.median(http_ms), statistics.median(sql_ms)
                results.append((name, median_http, median_sql, len(body["rows"])))
                print(f"{name:20} {median_http:10.1f} {median_sql:10.1f} {median_http / median_sql:6.2f}  "
                      f"{len(body['rows'])}", flush=True)
    met = True
    for name, median_http, median_sql, _rows in results:
        ratio = median_http / median_sql
        met &= ratio <= GOAL
        print(f"RESULT|GET /v1/reports/{name} as an admin over {args.deals:,} opportunities vs its hand-written SQL "
              f"(PostgreSQL, median of {args.runs})|{median_http:.1f} vs {median_sql:.1f} ms, ratio {ratio:.2f}|"
              f"<= {GOAL}|{'yes' if ratio <= GOAL else 'no'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
