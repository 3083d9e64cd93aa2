"""API shapes of processes, their versions, dry runs and migrations."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from app.engine.spec import ProcessSpec
from app.schemas import Input, Name, Output, Slug


RESERVED_KEYS = frozenset({"kinds", "context-schema"})  # paths under /v1/processes


class ProcessCreate(ProcessSpec):
    """A new process: its key, and the content of its version 1 (a draft)."""

    key: Slug

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, key: str) -> str:
        if key in RESERVED_KEYS:
            raise ValueError(f"{key!r} names a route; choose another key")
        return key


class VersionSummary(Output):
    """One version of a process, without its content."""

    version: int
    status: Literal["draft", "published"]
    created_at: datetime
    created_by: str
    published_at: datetime | None
    published_by: str | None


class ProcessRead(Output):
    """A process and its versions; new opportunities take the latest published one."""

    key: str
    title: str = Field(description="The title of its newest version.")
    latest_published: int | None
    versions: list[VersionSummary]


class PublishedRead(VersionSummary):
    """A version just published: what it is and where its content is, not the content itself."""

    key: str
    etag: str = Field(description="The version's entity tag, as its ETag header says.")
    href: str = Field(description="Where the version's full content is read.")


class ProcessVersionRead(VersionSummary):
    """One version of a process with its full content."""

    key: str
    spec: ProcessSpec


class Selection(Input):
    """Which open opportunities of the process: all, or those matching every given filter."""

    step: Slug | None = None
    owner: Name | None = None
    ids: list[uuid.UUID] | None = Field(None, max_length=10_000)


MIGRATE_BATCH = 500  # deals one call moves, in one transaction: row locks (or SQLite's write lock) held briefly
MAX_IDS = 1_000  # ids a dry run lists per count


class MigrateRequest(Selection):
    """Which open opportunities to move, and how many in this call (each is locked while it moves)."""

    limit: int = Field(MIGRATE_BATCH, ge=1, le=MIGRATE_BATCH, description="Deals moved by this call, in one "
                       "transaction; call again while `remaining` is above zero (an interrupted call moved none, "
                       "and the next resumes where the last one committed).")


class DryRunRequest(Selection):
    """What to try the version on, and how many ids to list per count."""

    max_ids: int = Field(MAX_IDS, ge=0, le=MAX_IDS, description="Ids listed per count (the counts are exact).")


class IdsRead(Output):
    """How many opportunities, and (up to max_ids of) their ids."""

    count: int
    ids: list[uuid.UUID]
    truncated: bool


class RequirementImpactRead(Output):
    """What one requirement would change at the opportunities' next gate."""

    code: str
    step: str | None = Field(description="The step whose gate holds it under the tried version.")
    newly_blocked: IdsRead = Field(description="Deals that meet it (or are not asked it) now but would be blocked.")
    released: IdsRead = Field(description="Deals it blocks now that it would no longer block.")


class GateImpactRead(Output):
    """Deals whose whole next gate would change: passing now and blocked, or the reverse."""

    newly_blocked: IdsRead
    released: IdsRead


class DryRunRead(Output):
    """The effect of a process version on open opportunities, evaluated now and changing nothing."""

    process: str
    version: int
    evaluated: int = Field(description="Open opportunities looked at.")
    requirements: list[RequirementImpactRead]
    next_gate: GateImpactRead
    step_missing: IdsRead = Field(description="Deals standing at a step the version does not have.")


class MigrationEntryRead(Output):
    """What happened to one opportunity."""

    id: uuid.UUID
    step: str
    from_version: int
    migrated: bool
    gate_holds: bool | None = Field(description="Whether the gate into its current step holds under the new version.")
    unmet: list[str] = Field(description="The blocking requirement codes of that gate it does not meet.")
    reason: str | None = Field(description="Why it was not moved.")


class MigrationRead(Output):
    """Open opportunities on older versions moved to a published version, each at the step where it stood."""

    process: str
    version: int
    migrated: int
    not_migrated: int = Field(description="Deals at a step the version does not have (listed up to the limit).")
    remaining: int = Field(description="Deals still to move: call again.")
    opportunities: list[MigrationEntryRead]


class KindRead(Output):
    """A built-in requirement kind and the parameters it takes."""

    kind: str
    description: str
    params: dict[str, Any] = Field(description="JSON Schema of its parameters.")
    settings: dict[str, str] = Field(description="Parameters that default to a setting of the process version.")
