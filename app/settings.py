"""Service settings, read once from the environment (prefix DEALGATE_); each says what it bounds."""

import json
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set without touching code (docs/deploy.md lists them, generated from here)."""

    model_config = SettingsConfigDict(env_prefix="DEALGATE_", extra="ignore")

    database_url: str = Field("sqlite:///./dealgate.db", description=(
        "SQLite file, or PostgreSQL as `postgresql+psycopg://user@host:5432/db`"))
    database_connections: int = Field(40, ge=1, le=1_000, description=(
        "requests a server process runs at once, each on its own database connection, kept open once made; more "
        "wait their turn. On PostgreSQL, keep it times the processes (and a replica's own) under `max_connections`"))
    max_body_bytes: int = Field(1_048_576, description="larger request bodies are refused with 413")
    max_records_per_kind: int = Field(200, description=(
        "records of one kind one deal may hold (stakeholders, problems, ...); one more is refused with 422 "
        "`limit-exceeded`"))
    max_records_by_kind: dict[str, int] = Field({"activities": 1_000, "tasks": 500}, description=(
        "the same per kind, as JSON, for the kinds that take their own figure"))
    max_snapshot_bytes: int = Field(1_048_576, description=(
        "the size, as JSON, of all of one deal's records (the snapshot its gates read and every write rewrites); a "
        "write past it is refused with 422 `limit-exceeded`"))
    rule_cost_limit: int = Field(100_000, description=(
        "the worst-case cost of one CEL rule, priced when a version is saved (see \"What a rule may cost\")"))
    rule_regex_program: int = Field(200, description="the compiled size of a `matches()` pattern")
    rule_literal_chars: int = Field(1_000, description="the length of a text literal in a rule")
    rule_literal_items: int = Field(100, description="the elements of a list or map literal in a rule")
    rule_max_per_version: int = Field(300, description=(
        "CEL rules and conditions in one process version (each takes about 2 ms to check and compile)"))
    rule_gate_budget_ms: float = Field(50.0, description=(
        "the time a gate's rules may take before the rest are reported as `rule.budget_exceeded`"))
    definition_cache_size: int = Field(256, description=(
        "compiled process versions (and as many state machines, and drawn diagrams) a server process keeps; the "
        "least recently used is compiled again when needed"))
    key_cache_seconds: float = Field(5.0, description=(
        "how long a server process trusts an API key it has checked: a key revoked, or a user deactivated or "
        "changed, in another process is refused there within this time (at once in the process that did it)"))
    max_webhook_endpoints: int = Field(20, description="webhook endpoints one workspace may have")
    webhook_allow_private_addresses: bool = Field(False, description=(
        "let webhooks reach loopback and private addresses (a receiver on your machine)"))
    webhook_connect_timeout: float = Field(5.0, description="seconds to connect to an endpoint")
    webhook_timeout: float = Field(15.0, description="seconds an attempt may take")
    webhook_response_bytes: int = Field(4_096, description="bytes of an answer read (and kept with the attempt)")
    webhook_retry_after_max: float = Field(86_400.0, description=(
        "the longest `Retry-After`, in seconds, honoured"))
    webhook_disable_after_hours: float = Field(120.0, description=(
        "an endpoint failing every attempt this long is disabled"))
    webhook_secret_overlap_hours: float = Field(24.0, description=(
        "how long a rotated secret still signs, unless the rotation says"))
    idempotency_ttl_hours: float = Field(24.0, description=(
        "how long the answer to a write sent with an `Idempotency-Key` is kept for retries"))
    event_retention_days: int = Field(30, description="events, deliveries and attempts are pruned after this")
    server_worker: bool = Field(True, description=(
        "each server process starts a worker process beside itself; `false` when `dealgate worker` processes "
        "deliver"))
    ready_outbox_lag_seconds: float = Field(60.0, description=(
        "`GET /readyz` answers 503 (`failing: [\"outbox\"]`) once the oldest event not yet relayed to the webhooks "
        "is older than this"))
    worker_batch: int = Field(100, description="deliveries a worker claims at once")
    worker_concurrency: int = Field(8, description="deliveries a worker sends in parallel")
    worker_poll_seconds: float = Field(0.2, description="how often an idle worker looks for work")
    report_database_url: str | None = Field(None, description=(
        "a read replica the reports query, off the primary (unset: the primary); reports then lag writes by the "
        "replica's delay"))
    report_timeout_seconds: float = Field(120.0, gt=0, description=(
        "the longest a report's query may run on PostgreSQL before the report is refused with 503"))
    report_work_mem_mb: int = Field(64, ge=1, le=4_096, description=(
        "on PostgreSQL, the memory each sort or hash of a report's query may use before it spills to disk"))
    forecast_min_sample: int = Field(20, ge=1, description=(
        "closed deals that stood in a step before the forecast trusts the workspace's own win rate from it over "
        "the process's default"))
    complaint_repeat_window_days: int = Field(365, ge=1, le=3_650, description=(
        "a complaint in a category its account already had this many days before or less is a repeat: it names "
        "the earlier one, and its severity is raised one level"))
    handover_max_items: int = Field(5_000, ge=1, le=1_000_000, description=(
        "the most deals, accounts, tasks and complaints one handover moves in its one transaction; a larger one is "
        "refused (422)"))
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description=(
        "the least severe log line written (`info`: one line a request and one a delivery)"))
    metrics_token: SecretStr | None = Field(None, description=(
        "`GET /metrics` answers a bearer of this token; unset, it answers loopback clients only"))
    shutdown_grace_seconds: float = Field(30.0, description=(
        "on SIGTERM, how long `dealgate serve` lets requests in flight finish before it closes their connections"))

    def max_records(self, kind: str) -> int:
        """How many records of a kind one deal may hold."""
        return self.max_records_by_kind.get(kind, self.max_records_per_kind)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()


def _shown(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        shown = str(int(value))
    elif isinstance(value, dict):
        shown = json.dumps(value, separators=(", ", ": "))
    else:
        shown = str(value)
    return f"`{shown}`"


def settings_table() -> str:
    """Every setting as a Markdown table: its variable, its default, what it does."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `DEALGATE_{name.upper()}` | {_shown(field.default)} | {field.description} |")
    return "\n".join(rows) + "\n"
