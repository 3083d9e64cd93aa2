"""The evaluation context rules read: the opportunity and all its records as one typed document."""

from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from app.engine.rules import RuleEnvironment
from app.opportunities.schemas import OpportunityRead
from app.phases.catalog import RECORD_KINDS


def _context_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        "now": (datetime, Field(description="The time of the evaluation (ISO 8601; read it with timestamp(now)).")),
        "opportunity": (OpportunityRead, Field(description="The opportunity as GET /v1/opportunities/{id} shows it.")),
    }
    for kind in RECORD_KINDS.values():
        if kind.singleton:
            fields[kind.collection] = (kind.read | None, Field(description=f"The {kind.words}, or null."))
        else:
            fields[kind.collection] = (list[kind.read], Field(description=f"Every {kind.words}, oldest first."))
    return create_model("EvaluationContext", __doc__="What a CEL rule or condition can read. Amounts are "
                        "integers in minor units; times are ISO 8601 strings.", **fields)


@cache
def context_schema() -> dict[str, Any]:
    """The evaluation context as JSON Schema: every field a rule can read."""
    return _context_model().model_json_schema(mode="serialization")


@cache
def rule_environment() -> RuleEnvironment:
    """The one CEL environment every process version compiles its rules in."""
    return RuleEnvironment(context_schema())
