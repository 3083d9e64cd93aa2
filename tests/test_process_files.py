"""`dealgate process export` and `apply`: a process kept in version control, applied through the API."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import yaml

from app.engine.spec import ProcessSpec
from app.processes.service import default_process
from tests.conftest import ROOT


def dealgate(server: tuple[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line against the server."""
    base, key = server
    return subprocess.run([sys.executable, "-m", "app.cli", "process", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "DEALGATE_URL": base, "DEALGATE_KEY": key})


def test_export_apply_round_trip_diff_and_publish(server: tuple[str, str], tmp_path: Path) -> None:
    base, key = server
    auth = {"Authorization": f"Bearer {key}"}
    exported = dealgate(server, "export", "complex-sale")
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    stored = httpx2.get(f"{base}/v1/processes/complex-sale/versions/1", headers=auth).json()["spec"]
    assert ProcessSpec.model_validate({k: v for k, v in document.items() if k != "key"}) \
        == ProcessSpec.model_validate(stored) and document["key"] == "complex-sale"

    path = tmp_path / "complex-sale.yaml"
    path.write_text(exported.stdout, encoding="utf-8")
    same = dealgate(server, "apply", str(path))
    assert same.returncode == 0 and "nothing new to store" in same.stdout

    document["gates"]["opening"].append({"code": "ops.two_people", "rule": "stakeholders.size() >= 2",
                                         "message": "Name two people before opening."})
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    applied = dealgate(server, "apply", str(path), "--publish")
    assert applied.returncode == 0, applied.stderr
    added = [line for line in applied.stdout.splitlines() if line.startswith("+ ")]
    assert "rule: stakeholders.size() >= 2" in "".join(added) and "code: ops.two_people" in "".join(added)
    assert "Stored complex-sale version 2 as a draft." in applied.stdout and "Published complex-sale version 2." in applied.stdout
    process = httpx2.get(f"{base}/v1/processes/complex-sale", headers=auth).json()
    assert process["latest_published"] == 2
    again = dealgate(server, "export", "complex-sale")
    exported_again = yaml.safe_load(again.stdout)
    assert exported_again.pop("key") == document.pop("key")
    assert ProcessSpec.model_validate(exported_again) == ProcessSpec.model_validate(document)  # applied = exported
    assert "rule: null" not in again.stdout


def test_apply_refuses_an_invalid_file_with_every_error_and_stores_nothing(server: tuple[str, str],
                                                                           tmp_path: Path) -> None:
    base, key = server
    path = tmp_path / "renewal.yaml"
    path.write_text(yaml.safe_dump({
        "key": "renewal", "title": "Renewal", "phases": ["renew"],
        "steps": [{"name": "review", "phase": "renew"}, {"name": "renewed", "phase": "later"}],
        "gates": {"renewed": [{"code": "renewal.usage", "rule": "account_profile.usage > 0", "message": "m"}]}}))
    refused = dealgate(server, "apply", str(path))
    assert refused.returncode == 1
    assert "/steps/1/phase: unknown phase 'later'" in refused.stderr
    assert "/gates/renewed/0/rule (line 1, column 16 of the rule): rule: account_profile.usage: no such field" \
        in refused.stderr
    listed = httpx2.get(f"{base}/v1/processes", headers={"Authorization": f"Bearer {key}"}).json()["items"]
    assert [p["key"] for p in listed] == ["complex-sale"]

    path.write_text(path.read_text().replace("phase: later", "phase: renew").replace("usage > 0", "budget != null"))
    created = dealgate(server, "apply", str(path))
    assert created.returncode == 0, created.stderr
    assert "New process renewal; stored version 1 as a draft." in created.stdout
    published = dealgate(server, "apply", str(path), "--publish")  # the same file: publish the stored draft
    assert "Published renewal version 1." in published.stdout, published.stdout + published.stderr


def test_the_key_can_come_from_a_file_not_the_command_line(server: tuple[str, str], tmp_path: Path) -> None:
    base, key = server
    key_file = tmp_path / "ops.key"
    key_file.write_text(key + "\n")
    env = {k: v for k, v in os.environ.items() if k != "DEALGATE_KEY"}
    exported = subprocess.run([sys.executable, "-m", "app.cli", "process", "export", "complex-sale", "--url", base,
                               "--api-key-file", str(key_file)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, env=env)
    assert exported.returncode == 0, exported.stderr
    assert yaml.safe_load(exported.stdout)["key"] == "complex-sale"
    missing = subprocess.run([sys.executable, "-m", "app.cli", "process", "export", "complex-sale", "--url", base],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode == 1 and "DEALGATE_KEY" in missing.stderr and "Traceback" not in missing.stderr


def test_apply_refuses_a_rule_that_cannot_be_bounded_before_calling_the_api(tmp_path: Path) -> None:
    numbers = "[" + ",".join(str(i) for i in range(99)) + "]"
    stalling = f'{numbers}.all(y, {numbers}.all(x, "{"a" * 1500}".matches("(a{{1,50}}){{1,20}}z") == false))'
    document = {"key": "complex-sale", **copy.deepcopy(default_process()[1])}
    document["gates"]["opening"].append({"code": "ops.stall", "rule": stalling, "message": "m", "overridable": False})
    path = tmp_path / "complex-sale.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    refused = subprocess.run([sys.executable, "-m", "app.cli", "process", "apply", str(path), "--url",
                              "http://127.0.0.1:9"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "DEALGATE_KEY": "dg_unused"})
    assert refused.returncode == 1
    at = f"/gates/opening/{len(document['gates']['opening']) - 1}/rule (line 1, column"
    assert at in refused.stderr and "cannot be bounded" in refused.stderr, refused.stderr


def _apply_offline(path: Path) -> subprocess.CompletedProcess[str]:
    """`dealgate process apply` on a file it refuses before calling the API."""
    return subprocess.run([sys.executable, "-m", "app.cli", "process", "apply", str(path), "--url",
                           "http://127.0.0.1:9"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DEALGATE_KEY": "dg_unused"})


def test_a_broken_file_is_one_message_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "complex-sale.yaml"
    path.write_text("key: complex-sale\ngates:\n  presentation:\n  - code: a\n - code: b\n", encoding="utf-8")
    refused = _apply_offline(path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"{path}:5:2: not valid YAML: expected <block end>, but found '<block sequence start>' "
        "(this line is not indented as the lines above it are)"]


def test_rule_errors_point_into_the_file_and_say_what_was_meant(tmp_path: Path) -> None:
    document = {"key": "complex-sale", **copy.deepcopy(default_process()[1])}
    gate = document["gates"]["presentation"]
    gate += [{"code": "ops.typo", "rule": "opportunity.valeu.amount > 0", "message": "m"},
             {"code": "ops.decimal", "rule": "opportunity.value.amount > 5000000.0", "message": "m"},
             {"code": "ops.unknown", "rule": "stakeholder.size() > 1", "message": "m"}]
    path = tmp_path / "complex-sale.yaml"
    text = yaml.safe_dump(document, sort_keys=False, width=1000)
    path.write_text(text, encoding="utf-8")
    refused = _apply_offline(path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "opportunity.valeu.amount" in line) + 1
    column = lines[row - 1].index("opportunity.valeu") + len("opportunity.") + 0  # the dot before the field
    assert f"{path}:{row}:{column}" in refused.stderr, refused.stderr
    assert "opportunity.valeu: no such field; did you mean 'value'?" in refused.stderr
    assert "compares an integer with a decimal number: amounts and counts are integers, so write 5000000, " \
           "not 5000000.0" in refused.stderr
    assert "stakeholder: not a name a rule can read; did you mean 'stakeholders'?" in refused.stderr
    assert "dealgate.context" not in refused.stderr and "(a pointer counts the items of a list from 0)" in refused.stderr
