"""The README's walkthrough runs as written against a real server."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from alembic import command

from tests.conftest import ROOT, alembic_config, fresh_database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A uvicorn server on a fresh, migrated, bootstrapped database; yields its URL and the key."""
    with fresh_database(backend, tmp_path) as url:
        command.upgrade(alembic_config(url), "head")
        env = {**os.environ, "DEALGATE_DATABASE_URL": url}
        printed = subprocess.run([sys.executable, "-m", "app.cli", "admin", "bootstrap", "--if-empty"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
        key = printed.strip().splitlines()[-1]
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port),
             "--log-level", "warning"], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    httpx2.get(f"{base}/openapi.json", timeout=1)
                    break
                except httpx2.TransportError:
                    time.sleep(0.1)
            yield base, key
        finally:
            process.terminate()
            process.wait(timeout=10)


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
