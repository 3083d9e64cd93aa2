"""The evaluation context rules read: the opportunity and all its records as one typed document."""

from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from app.engine.cost import RuleLimits
from app.engine.rules import RuleEnvironment
from app.external_ids import ExternalIds
from app.opportunities.schemas import AccountRef, AccountSummary, OpportunityRead
from app.phases.catalog import RECORD_KINDS
from app.schemas import LONGEST_LIST, LONGEST_TEXT, Name
from app.settings import get_settings


def _bounded(read: type[BaseModel], create: type[BaseModel], **extra: Any) -> type[BaseModel]:
    """The read shape carrying the create shape's limits (lengths, list sizes): only for pricing rules."""
    fields: dict[str, Any] = {name: (info.rebuild_annotation(), None) for name, info in create.model_fields.items()
                              if name in read.model_fields}
    if "external_ids" in read.model_fields:
        fields["external_ids"] = (ExternalIds, None)
    fields.update(extra)
    return create_model(read.__name__, __base__=read, **fields)


def _context_model(bounded: bool = False) -> type[BaseModel]:
    opportunity = _bounded(OpportunityRead, BaseModel, name=(Name, None), owner=(Name, None),
                           account=(_bounded(AccountSummary, AccountRef), None)) if bounded else OpportunityRead
    fields: dict[str, Any] = {
        "now": (datetime, Field(description="The time of the evaluation (ISO 8601; read it with timestamp(now)).")),
        "opportunity": (opportunity, Field(description="The opportunity as GET /v1/opportunities/{id} shows it.")),
    }
    for kind in RECORD_KINDS.values():
        read = _bounded(kind.read, kind.create) if bounded else kind.read
        if kind.singleton:
            fields[kind.collection] = (read | None, Field(description=f"The {kind.words}, or null."))
        else:
            fields[kind.collection] = (list[read], Field(description=f"Every {kind.words}, oldest first."))
    return create_model("EvaluationContext", __doc__="What a CEL rule or condition can read. Amounts are "
                        "integers in minor units; times are ISO 8601 strings.", **fields)


@cache
def context_schema() -> dict[str, Any]:
    """The evaluation context as JSON Schema: every field a rule can read."""
    return _context_model().model_json_schema(mode="serialization")


@cache
def rule_environment() -> RuleEnvironment:
    """The one CEL environment every process version compiles its rules in."""
    settings = get_settings()
    limits = RuleLimits(cost=settings.rule_cost_limit, literal_chars=settings.rule_literal_chars,
                        literal_items=settings.rule_literal_items, regex_program=settings.rule_regex_program,
                        per_version=settings.rule_max_per_version,
                        text=LONGEST_TEXT, items=LONGEST_LIST, records=settings.max_records)
    bounds = _context_model(bounded=True).model_json_schema(mode="serialization")
    return RuleEnvironment(context_schema(), limits=limits, bounds=bounds,
                           budget=settings.rule_gate_budget_ms / 1000)
