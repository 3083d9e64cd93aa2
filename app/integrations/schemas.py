"""API shapes of the maps of another system and of upserts by its ids."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictStr

from app.accounts.schemas import Size
from app.external_ids import KEYS_BY_PATTERN_ONLY, ExternalId
from app.opportunities.schemas import FindingRead, OpportunityRead
from app.phases.discover.schemas import StakeholderCreate
from app.schemas import Day, Input, Money, Name, Output, Reason, Slug

MAX_BATCH = 100  # items of one batch upsert
MAX_STAKEHOLDERS = 20  # stakeholders pushed with one deal
CrmName = Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class SystemMapWrite(Input):
    """How another system's names map onto ours: its users onto sellers, its stages onto steps (or onto lost
    or disqualified)."""

    owners: Annotated[dict[CrmName, Name], Field(max_length=2_000, json_schema_extra=KEYS_BY_PATTERN_ONLY, description=(
        "The system's user (often an e-mail address) → the handle of a seller here."))] = {}
    default_owner: Name | None = Field(None, description="Who owns what an unmapped user owns in the system.")
    stages: Annotated[dict[CrmName, Name], Field(max_length=200, json_schema_extra=KEYS_BY_PATTERN_ONLY, description=(
        "The system's stage → a step of the process, or lost, or disqualified."))] = {}


class SystemMapRead(Output):
    """A system's maps as stored."""

    system: str
    owners: dict[str, str]
    default_owner: str | None
    stages: dict[str, str]
    version: int
    updated_at: datetime
    updated_by: str


class AccountUpsert(Input):
    """An account as another system holds it; fields left out stay as they are."""

    name: Name
    industry: Slug | None = Field(None, description="A lower-case slug, such as public_sector.")
    size: Size | None = None
    owner: CrmName | None = Field(None, description="The system's user or a seller's handle (the owner map applies).")


class AccountItem(AccountUpsert):
    """One account of a batch, with its id in the system."""

    external_id: ExternalId


class AccountBatch(Input):
    """Up to 100 accounts, each stored or refused on its own."""

    items: Annotated[list[AccountItem], Field(min_length=1, max_length=MAX_BATCH)]


class AccountLink(Input):
    """The deal's account: by its id in the same system (created or updated), or by name."""

    external_id: ExternalId | None = None
    name: Name
    industry: Slug | None = None


class StakeholderItem(StakeholderCreate):
    """A stakeholder pushed with its deal, with its id in the system."""

    external_id: ExternalId


class OpportunityUpsert(Input):
    """A deal as another system holds it; fields left out stay as they are. `stage` is the system's stage: the
    stage map says which step it means, and the deal moves there only as far as its gates allow."""

    name: Name
    account: AccountLink | None = Field(None, description="Required when the deal is new (or send account_id).")
    account_id: uuid.UUID | None = None
    owner: CrmName | None = Field(None, description="The system's user or a seller's handle (the owner map applies).")
    value: Money | None = None
    expected_close_date: Day | None = None
    process: Slug = Field("complex-sale", description="The process a new deal runs under.")
    stage: CrmName | None = None
    override: Reason | None = Field(None, min_length=1, description=(
        "A justification to pass blocked gates on the way to the stage, where the process lets the caller's "
        "role override; recorded in the deal's history."))
    stakeholders: Annotated[list[StakeholderItem], Field(max_length=MAX_STAKEHOLDERS)] = []


class OpportunityItem(OpportunityUpsert):
    """One deal of a batch, with its id in the system."""

    external_id: ExternalId


class OpportunityBatch(Input):
    """Up to 100 deals, each stored or refused on its own."""

    items: Annotated[list[OpportunityItem], Field(min_length=1, max_length=MAX_BATCH)]


class StageRead(Output):
    """Where the system wanted the deal and where it stands."""

    system: str
    stage: str
    wanted: str = Field(description="The step (or lost, disqualified) the stage map gives.")
    step: str
    status: str
    reached: bool
    unmet: list[FindingRead] = Field(description="What the gate that stopped it still needs.")
    overridden: list[str] = Field(description="Blocking requirements the override passed over.")


class OpportunityUpserted(OpportunityRead):
    """The deal after an upsert, and how its stage was followed."""

    stage_sync: StageRead | None = Field(description="Null when no stage was sent.")


class ItemResult(Output):
    """What became of one item of a batch."""

    external_id: str
    status: int = Field(description="201 created, 200 updated, or the status of the refusal.")
    id: uuid.UUID | None
    etag: str | None
    stage_sync: StageRead | None = None
    problem: dict[str, Any] | None = Field(None, description="The refusal as application/problem+json.")


class BatchRead(Output):
    """One result per item, in the order sent."""

    results: list[ItemResult]
    created: int
    updated: int
    refused: int
    held_at_gate: int


