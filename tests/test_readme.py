"""The README's walkthrough runs as written against a real server."""

import os
import re
import subprocess

import httpx2

from tests.conftest import ROOT


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
