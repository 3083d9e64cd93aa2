"""The committed openapi.yaml is the app's own document."""

from pathlib import Path

import yaml

from app.main import create_app
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
