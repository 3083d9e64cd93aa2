"""Schemathesis against a real server: a fresh SQLite database, uvicorn, and `st run` as an
administrator and as a rep, every check on but the acceptance of schema-valid data (see
test_api_fuzz.py). From the repository root: .venv/bin/python -m tests.fuzz_server [--examples 50]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import httpx2

from tests.conftest import ROOT, _free_port

BIN = ROOT / ".venv" / "bin"


def main() -> int:
    """Serve, run Schemathesis as two roles, stop; the exit code is Schemathesis's worst."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50, help="examples per operation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dealgate-fuzz-") as folder:
        env = {**os.environ, "DEALGATE_DATABASE_URL": f"sqlite:///{folder}/fuzz.db"}
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=env, check=True, capture_output=True)
        admin_key = subprocess.run([str(BIN / "dealgate"), "admin", "bootstrap"], cwd=ROOT, env=env, check=True,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(BIN / "uvicorn"), "--factory", "app.main:create_app", "--port", str(port),
                                   "--log-level", "warning"], cwd=ROOT, env=env)
        try:
            for _ in range(100):
                try:
                    httpx2.get(f"{base}/openapi.json", timeout=1)
                    break
                except httpx2.TransportError:
                    time.sleep(0.1)
            admin = httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {admin_key}"})
            rep = admin.post("/v1/admin/users", json={"handle": "rep.fuzz", "name": "Fuzz", "role": "rep"}).json()
            rep_key = admin.post(f"/v1/admin/users/{rep['id']}/keys").json()["key"]
            worst = 0
            for role, key in (("admin", admin_key), ("rep", rep_key)):
                print(f"== Schemathesis as {role}, {args.examples} examples per operation", flush=True)
                worst = max(worst, subprocess.run([
                    str(BIN / "st"), "run", str(ROOT / "openapi.yaml"), "--url", base,
                    "-H", f"Authorization: Bearer {key}", "--checks", "all",
                    "--exclude-checks", "positive_data_acceptance", "-n", str(args.examples),
                    "--generation-deterministic"], cwd=ROOT).returncode)
            return worst
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
