"""The committed openapi.yaml is the app's own document, and says exactly what the server accepts."""

import re
from pathlib import Path
from typing import Any

import yaml

from app.etags import ENTITY_TAGS
from app.main import create_app
from app.schemas import Patch
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_committed_openapi_matches_the_app(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/unused.db"))
    committed = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert committed == app.openapi(), "openapi.yaml is stale: run `make openapi`"


def test_every_error_answer_is_documented_as_problem_json(tmp_path: Path) -> None:
    spec = create_app(Settings(database_url=f"sqlite:///{tmp_path}/unused.db")).openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema["$ref"].endswith("/ProblemDetails")


def _spec(tmp_path: Path) -> dict[str, Any]:
    return create_app(Settings(database_url=f"sqlite:///{tmp_path}/unused.db")).openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for paths in (spec["paths"], spec["webhooks"])
            for path, operations in paths.items() for method, operation in operations.items()]


def test_operation_ids_are_unique_snake_case_names_without_path_or_method(tmp_path: Path) -> None:
    operations = _operations(_spec(tmp_path))
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) == len(set(ids))
    for method, path, operation in operations:
        name = operation["operationId"]
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name), (method, path, name)
        assert not name.endswith(f"_{method}") and "_v1_" not in name, (method, path, name)
    assert {"create_opportunity", "move_opportunity", "list_workspace_tasks"} <= set(ids)


def test_the_api_key_is_the_one_security_scheme_and_no_parameter(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert list(spec["components"]["securitySchemes"]) == ["apiKey"]
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert spec["security"] == [{"apiKey": []}]
    for method, path, operation in _operations(spec):
        names = [parameter["name"].lower() for parameter in operation.get("parameters", [])]
        assert "authorization" not in names, (method, path)


def _admits_null(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("type") == "null" or any(_admits_null(s) for s in schema.get("anyOf", []))
    return False


def _patches(model: type[Patch]) -> list[type[Patch]]:
    return [model, *(sub for child in model.__subclasses__() for sub in _patches(child))]


def test_no_field_of_a_request_body_admits_null_where_the_server_refuses_it(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    schemas = spec["components"]["schemas"]
    checked = 0
    for patch in _patches(Patch):
        if patch.not_nullable and patch.__name__ in schemas:
            for name in patch.not_nullable:
                assert not _admits_null(schemas[patch.__name__]["properties"][name]), (patch.__name__, name)
                checked += 1
    assert {"OpportunityUpdate", "StakeholderUpdate", "TaskUpdate"} <= {p.__name__ for p in _patches(Patch)}
    assert checked > 50
    for method, path, operation in _operations(spec):
        for parameter in operation.get("parameters", []):
            assert not _admits_null(parameter["schema"]), (method, path, parameter["name"])


def test_numbers_state_their_bounds_and_if_match_is_an_entity_tag(tmp_path: Path) -> None:
    spec = _spec(tmp_path)

    schemas = spec["components"]["schemas"]

    def numbers(node: Any, seen: set[str]) -> list[dict[str, Any]]:
        """The number schemas of what a client sends, following references."""
        if isinstance(node, list):
            return [n for child in node for n in numbers(child, seen)]
        if not isinstance(node, dict):
            return []
        name = node.get("$ref", "").rsplit("/", 1)[-1]
        if name and name not in seen:
            seen.add(name)
            return numbers(schemas[name], seen)
        own = [node] if node.get("type") in ("integer", "number") else []
        return own + [n for child in node.values() for n in numbers(child, seen)]

    inputs = [[operation.get("requestBody"), operation.get("parameters")] for _, _, operation in _operations(spec)
              if "x-policy" in operation]  # what a client sends, not the webhooks it receives
    bounded = numbers(inputs, set())
    assert len(bounded) > 30
    for schema in bounded:
        assert "minimum" in schema and "maximum" in schema, schema
        assert schema["type"] != "integer" or all(isinstance(schema[b], int) for b in ("minimum", "maximum")), schema
    money = spec["components"]["schemas"]["Money"]["properties"]["amount"]
    assert (money["minimum"], money["maximum"]) == (0, 10**15)
    if_matches = [p for _, _, operation in _operations(spec) for p in operation.get("parameters", [])
                  if p["name"].lower() == "if-match"]
    assert len(if_matches) > 40
    for parameter in if_matches:
        assert parameter["description"] and parameter["schema"]["pattern"] == ENTITY_TAGS
    assert re.match(ENTITY_TAGS, '"3.0193a0b2c3d4e5f60718293a4b5c6d7e"') and re.match(ENTITY_TAGS, '"1.a", "2.b"')
    assert re.match(ENTITY_TAGS, 'W/"3.0193"') and not re.match(ENTITY_TAGS, "3.0193")  # weak: 412, not 422
