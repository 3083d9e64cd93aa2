"""The README's walkthrough runs as written against a real server."""

import json
import os
import re
import subprocess
from datetime import date
from pathlib import Path

import httpx2

from app.settings import settings_table
from tests.conftest import ROOT


def _walkthrough(readme: str) -> str:
    """The walkthrough's blocks, as one script."""
    section = readme[readme.index("## Walkthrough"):readme.index("## The process")]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))


def _bash(script: str, base: str, key: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a script as a reader's terminal would, pointed at the server by BASE, stopping at the first failure."""
    return subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", script], capture_output=True, text=True,
                          timeout=180, cwd=cwd, env={**os.environ, "KEY": key, "BASE": base})


def test_the_walkthrough_drives_a_deal_from_planning_to_won(server: tuple[str, str]) -> None:
    base, key = server
    auth = {"Authorization": f"Bearer {key}"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    script = _walkthrough(readme)
    assert "127.0.0.1:8000" not in script.replace("${BASE:-http://127.0.0.1:8000}", "")  # one place names it
    run = _bash(script, base, key)
    assert run.returncode == 0, run.stderr
    # The three refusals the text promises (two gates, then the follow-up with back-office work open).
    assert run.stdout.count('"type": "https://dealgate.dev/problems/gate-blocked"') == 3
    assert run.stderr.count("HTTP 409") == 3 and "HTTP 5" not in run.stderr

    [deal, waiting] = httpx2.get(f"{base}/v1/opportunities", headers=auth).json()["items"]
    assert (deal["step"], deal["status"], deal["owner"]) == ("follow_up", "won", "admin")
    assert deal["follow_up_done_at"] is not None
    history = httpx2.get(f"{base}/v1/opportunities/{deal['id']}/history", headers=auth).json()["items"]
    assert [h["to_step"] for h in history if h["kind"] == "forward"] == [
        "opening", "questioning", "solution_design", "presentation", "negotiation", "closing", "follow_up"]
    assert history[-1]["kind"] == "follow_up_done"
    tasks = httpx2.get(f"{base}/v1/tasks", params={"owner": "admin", "completed": "false"}, headers=auth).json()
    assert sorted(t["kind"] for t in tasks["items"]) == ["check_in"] * 3 + ["introduction", "paperwork", "sales_report"]
    assert not [t for t in tasks["items"] if t["due_date"] < date.today().isoformat()]  # none overdue

    # After the win: a repeat complaint, a deal that waits, handed over from a rep who then left.
    complaints = httpx2.get(f"{base}/v1/complaints", headers=auth).json()["items"]
    assert sorted((c["status"], c["severity"], c["repeat_of_id"] is not None) for c in complaints) == [
        ("open", "high", True), ("verified", "medium", False)]
    assert (waiting["owner"], waiting["status"], waiting["step"]) == ("admin", "open", "planning")
    assert waiting["snooze"]["reason"] == "Their budget round opens in February"
    entries = httpx2.get(f"{base}/v1/opportunities/{waiting['id']}/history", headers=auth).json()["items"]
    assert [e["kind"] for e in entries] == ["create", "handover"]
    users = httpx2.get(f"{base}/v1/admin/users", headers=auth).json()["items"]
    assert [u["deactivated_at"] is not None for u in users if u["handle"] == "rep.sam"] == [True]


def test_a_wrong_key_stops_the_walkthrough_at_the_first_call_with_its_401(server: tuple[str, str]) -> None:
    base, _ = server
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme[readme.index("## Walkthrough"):], re.S)
    run = subprocess.run(["bash", "-c", blocks[0] + "\n" + blocks[1]], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KEY": "dg_wrong", "BASE": base})  # pasted: no -e, every line runs
    assert "HTTP 401" in run.stderr and '"status": 401' in run.stderr
    assert "KeyError" not in run.stderr and "Traceback" not in run.stderr and "HTTP 404" not in run.stderr
    assert run.stderr.count("skipped") >= 5  # every later call stopped, none sent


def test_the_sales_ops_example_adds_a_rule_tries_it_publishes_and_migrates(server: tuple[str, str],
                                                                            tmp_path: Path) -> None:
    base, key = server
    auth = {"Authorization": f"Bearer {key}"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## For sales ops"):readme.index("### What a requirement can say")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    [addition] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    # The reader's edit, as the text says: the snippet pasted as printed at the end of gates → presentation.
    paste = (f"python3 - <<'EDIT'\nimport re, pathlib\npath = pathlib.Path('complex-sale.yaml')\n"
             f"text = path.read_text()\ngates = text.index('\\ngates:\\n')\n"
             f"start = text.index('\\n  presentation:\\n', gates) + 1\n"
             f"end = start + re.search(r'\\n  \\S', text[start:]).start() + 1\n"
             f"path.write_text(text[:end] + {addition!r} + text[end:])\nEDIT\n")
    script = "\n".join([_walkthrough(readme), blocks[0], paste, *blocks[1:]])
    run = _bash(script, base, key, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Stored complex-sale version 2 as a draft." in run.stdout
    deal = httpx2.get(f"{base}/v1/opportunities", headers=auth).json()["items"][0]["id"]
    answers = [json.loads(chunk) for chunk in re.findall(r"^\{\n.*?^\}$", run.stdout, re.S | re.M)]
    [dry_run] = [a for a in answers if "requirements" in a]
    [impact] = dry_run["requirements"]
    # Both of the walkthrough's deals are judged (the won one, and the one that waits at planning); only the won
    # one is newly blocked.
    assert (impact["code"], impact["newly_blocked"]["ids"], dry_run["evaluated"]) == (
        "ops.two_deciders_on_big_deals", [deal], 2)
    assert dry_run["next_gate"]["newly_blocked"]["ids"] == [deal]
    [published] = [a for a in answers if a.get("status") == "published"]
    assert published["href"] == "/v1/processes/complex-sale/versions/2" and "spec" not in published
    [migrated] = [a for a in answers if "migrated" in a]
    assert migrated["migrated"] == 2
    refused = answers[-1]
    assert [u["code"] for u in refused["unmet"]] == ["ops.two_deciders_on_big_deals"]


def test_the_integration_examples_run_and_the_sample_mapping_is_valid(server: tuple[str, str],
                                                                       tmp_path: Path) -> None:
    from app.integrations.importer import read_mapping

    base, key = server
    auth = {"Authorization": f"Bearer {key}"}
    for handle in ("rep.alex", "rep.sam"):
        httpx2.post(f"{base}/v1/admin/users", json={"handle": handle, "name": handle, "role": "rep"}, headers=auth)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Integrations: writing from a CRM"):readme.index("### Closed deals")]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))
    run = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "BASE": base, "OPS_KEY": key, "CRM_KEY": key})
    assert run.returncode == 0, run.stderr
    [deal] = httpx2.get(f"{base}/v1/opportunities", headers=auth).json()["items"]
    assert deal["external_ids"] == {"salesforce": "006A1"} and deal["owner"] == "rep.alex"
    assert deal["step"] == "planning"  # held at the first gate on the way to presentation
    (tmp_path / "mapping.yaml").write_text(re.findall(r"```yaml\n(.*?)```", section, re.S)[0])
    assert read_mapping(tmp_path / "mapping.yaml").stages["Closed Lost"] == "lost"


def test_the_settings_tables_are_the_settings() -> None:
    table = settings_table()
    for document in ("README.md", "docs/deploy.md"):
        assert table in (ROOT / document).read_text(), f"{document}: paste the output of `dealgate settings`"
