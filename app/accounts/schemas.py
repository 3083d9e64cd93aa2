"""API shapes of accounts."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from app.accounts.models import SIZES
from app.external_ids import KEYS_BY_PATTERN_ONLY, ExternalId, ExternalIds, System
from app.schemas import Input, Name, Output, Page, Patch, Slug

Size = Literal[SIZES]  # type: ignore[valid-type]


class AccountCreate(Input):
    """A customer's organisation; its name is unique in the workspace."""

    name: Name
    industry: Slug | None = Field(None, description="A lower-case slug, such as public_sector.")
    size: Size | None = None
    owner: Name | None = Field(None, description="The seller who looks after the account (a user's handle).")
    external_ids: ExternalIds = {}


class AccountUpdate(Patch):
    """Fields of an account to change; in external_ids, null removes a system's id."""

    not_nullable = frozenset({"name", "external_ids"})

    name: Name | None = None
    industry: Slug | None = None
    size: Size | None = None
    owner: Name | None = None
    external_ids: Annotated[dict[System, ExternalId | None],
                            Field(max_length=10, json_schema_extra=KEYS_BY_PATTERN_ONLY)] | None = None


class AccountRead(Output):
    """A stored account."""

    id: uuid.UUID
    name: str
    industry: str | None
    size: Size | None
    owner: str | None
    external_ids: dict[str, str] = Field(description="What other systems call the account, by system.")
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


AccountPage = Page[AccountRead]
