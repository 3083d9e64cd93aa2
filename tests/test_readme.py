"""The README's walkthrough runs as written against a real server."""

import json
import os
import re
import subprocess
from pathlib import Path

import httpx2
import yaml

from tests.conftest import ROOT, WATER_DEAL
from tests.method import prepare


def test_the_walkthrough_drives_a_deal_from_planning_to_won(server: tuple[str, str]) -> None:
    base, key = server
    auth = {"Authorization": f"Bearer {key}"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Walkthrough"):readme.index("## The process")]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))
    script = script.replace("http://127.0.0.1:8000", base)
    run = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "KEY": key})
    assert run.returncode == 0, run.stderr
    assert run.stdout.count('"type":"https://dealgate.dev/problems/gate-blocked"') == 2  # as the text says

    [deal] = httpx2.get(f"{base}/v1/opportunities", headers=auth).json()["items"]
    assert (deal["step"], deal["status"], deal["owner"]) == ("follow_up", "won", "admin")
    history = httpx2.get(f"{base}/v1/opportunities/{deal['id']}/history", headers=auth).json()["items"]
    assert [h["to_step"] for h in history if h["kind"] == "forward"] == [
        "opening", "questioning", "solution_design", "presentation", "negotiation", "closing", "follow_up"]
    tasks = httpx2.get(f"{base}/v1/tasks", params={"owner": "admin"}, headers=auth).json()["items"]
    assert len(tasks) == 5


def test_the_sales_ops_example_adds_a_rule_tries_it_publishes_and_migrates(server: tuple[str, str],
                                                                            tmp_path: Path) -> None:
    base, key = server
    auth = {"Authorization": f"Bearer {key}"}
    with httpx2.Client(base_url=base, headers=auth) as client:
        big = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]  # 1,250,000.00 EUR
        prepare(client, big, "presentation")  # every default requirement of the gate met, one decision-maker
        assert client.post(f"/v1/opportunities/{big}/transitions", json={"to": "solution_design"}).status_code == 200
        small = client.post("/v1/opportunities", json={**WATER_DEAL, "value": {"amount": 500000, "currency": "EUR"}})
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## For sales ops"):readme.index("### What a requirement can say")]
    blocks = [b.replace("http://127.0.0.1:8000", base) for b in re.findall(r"```sh\n(.*?)```", section, re.S)]
    [addition] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")

    def run(script: str) -> str:
        done = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", blocks[0].splitlines()[0] + "\n" + script],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**os.environ, "KEY": key})
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(blocks[0])
    document = yaml.safe_load((tmp_path / "complex-sale.yaml").read_text(encoding="utf-8"))
    document["gates"]["presentation"] += yaml.safe_load(addition)
    (tmp_path / "complex-sale.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    assert "Stored complex-sale version 2 as a draft." in run(blocks[1])
    dry_run = json.loads(run(blocks[2]))
    [impact] = dry_run["requirements"]
    assert (impact["code"], impact["newly_blocked"]["ids"], dry_run["evaluated"]) == (
        "ops.two_deciders_on_big_deals", [big], 2)
    output = run(blocks[3])
    published, end = json.JSONDecoder().raw_decode(output)
    migrated = json.loads(output[end:])
    assert published["status"] == "published" and migrated["migrated"] == 2
    refused = httpx2.post(f"{base}/v1/opportunities/{big}/transitions", json={"to": "presentation"}, headers=auth)
    assert [u["code"] for u in refused.json()["unmet"]] == ["ops.two_deciders_on_big_deals"]
    assert small.status_code == 201


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
