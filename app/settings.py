"""Service settings, read once from the environment (prefix DEALGATE_)."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set without touching code."""

    model_config = SettingsConfigDict(env_prefix="DEALGATE_", extra="ignore")

    database_url: str = "sqlite:///./dealgate.db"
    max_body_bytes: int = 1_048_576
    # What a deal may hold: records of each kind (a kind named in max_records_by_kind takes its own
    # figure), and the size of the records snapshot its gates read.
    max_records_per_kind: int = 200
    max_records_by_kind: dict[str, int] = {"activities": 1_000, "tasks": 500}
    max_snapshot_bytes: int = 1_048_576
    # What a CEL rule may cost, priced when it is saved, and the time a gate's rules may take.
    rule_cost_limit: int = 100_000
    rule_literal_chars: int = 1_000
    rule_literal_items: int = 100
    rule_regex_program: int = 200
    rule_max_per_version: int = 300
    rule_gate_budget_ms: float = 50.0
    # Compiled process versions (and their state machines) kept per server process.
    definition_cache_size: int = 256
    # Webhooks: endpoints per workspace, where and how long an attempt may go, and how much of an answer is read.
    max_webhook_endpoints: int = 20
    webhook_allow_private_addresses: bool = False
    webhook_connect_timeout: float = 5.0
    webhook_timeout: float = 15.0
    webhook_response_bytes: int = 4_096
    webhook_retry_after_max: float = 86_400.0
    webhook_disable_after_hours: float = 120.0
    webhook_secret_overlap_hours: float = 24.0
    # How long the answer to a write sent with an Idempotency-Key is kept for its retries.
    idempotency_ttl_hours: float = 24.0
    # Events (and their deliveries) are kept this long, then pruned.
    event_retention_days: int = 30
    # The worker that delivers: started by the server beside itself unless separate workers run, how many deliveries it
    # claims at once, how many it sends in parallel, and how often it looks when idle.
    server_worker: bool = True
    # /readyz answers 503 once the oldest event not yet relayed to the webhooks is older than this.
    ready_outbox_lag_seconds: float = 60.0
    worker_batch: int = 100
    worker_concurrency: int = 8
    worker_poll_seconds: float = 0.2

    def max_records(self, kind: str) -> int:
        """How many records of a kind one deal may hold."""
        return self.max_records_by_kind.get(kind, self.max_records_per_kind)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
