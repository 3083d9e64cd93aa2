"""Generated API testing: Schemathesis sends what the contract allows, and what it refuses, to every
operation as each role, and checks every answer against the contract (no 5xx, documented status
codes and content types, bodies matching their schemas, invalid input rejected).

One default check is left out: that schema-valid data is accepted. Valid shapes may break rules no
schema states (an unknown process, an owner who sells nothing, a stakeholder of another deal), and
those are refused with 422 by design."""

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from app.phases.catalog import RECORD_KINDS
from tests.conftest import WATER_DEAL, Workplace
from tests.test_access import BODIES

EXAMPLES = int(os.environ.get("DEALGATE_FUZZ_EXAMPLES", "2"))  # per operation, role and mode; `make fuzz` raises it
ACTING = {"rep": "rep.alex", "manager": "rep.kim", "ops": "ops.lee", "admin": "admin", "integration": "crm.sync"}


# On PostgreSQL `make test` fuzzes as the widest and the narrowest role (the contract is the same for every
# database; what the database adds is its own refusals of values); `make fuzz` runs every role on both.
POSTGRES_ROLES = ("admin", "rep") if "DEALGATE_FUZZ_EXAMPLES" not in os.environ else tuple(ACTING)


@pytest.mark.parametrize("role", list(ACTING))
def test_every_answer_matches_the_contract(app: FastAPI, workplace: Workplace, role: str, backend: str) -> None:
    if backend == "postgresql" and role not in POSTGRES_ROLES:
        pytest.skip("make fuzz runs this role on PostgreSQL; make test runs admin and rep there")
    admin = TestClient(app, headers=workplace.as_user("admin"))
    deal = admin.post("/v1/opportunities", json={**WATER_DEAL, "owner": "rep.alex"}).json()["id"]
    records = {}  # one record of each listed kind, so record routes reach the code behind the 404
    for kind in RECORD_KINDS.values():
        if not kind.singleton:
            created = admin.post(f"/v1/opportunities/{deal}/{kind.path}", json=BODIES[kind.path])
            assert created.status_code == 201, (kind.path, created.text)
            records[kind.path] = created.json()["id"]
    headers = workplace.as_user(ACTING[role])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 90
    sent = dict.fromkeys(GenerationMode, 0)
    for operation in operations:
        # Ids that exist where an operation takes them, so the deeper code runs (other values are generated).
        segments = operation.path.split("/")
        known = {name: value for name, value in (
            ("opportunity_id", deal), ("record_id", records.get(segments[-2])), ("key", "complex-sale"),
            ("version", 1)) if "{" + name + "}" in operation.path and value is not None} or None
        for mode in GenerationMode:
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=known))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                sent[mode] += 1
                case.call_and_validate(headers=headers, excluded_checks=[checks.positive_data_acceptance])

            try:
                check()
            except Unsatisfiable:  # nothing in the operation could be made invalid
                assert mode is GenerationMode.NEGATIVE, (operation.method, operation.path)
    print(f"{role}: {sent[GenerationMode.POSITIVE]} valid and {sent[GenerationMode.NEGATIVE]} invalid requests "
          f"over {len(operations)} operations")
    assert sent[GenerationMode.POSITIVE] >= len(operations) and sent[GenerationMode.NEGATIVE] > len(operations) / 2
