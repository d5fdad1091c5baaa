"""The container's start script, run as the image runs it: migrations, the first admin from a
secret file (once), then the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _login(port: int, name: str, password: str) -> int:
    data = urllib.parse.urlencode({"username": name, "password": password}).encode()
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/auth/login", data=data, timeout=5
        ) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_start_makes_the_first_admin_once_and_serves(tmp_path: Path, free_port: Callable[[], int]) -> None:
    secret = tmp_path / "admin_password"
    secret.write_text("first admin passphrase\n")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "RXTRACE_DATA_DIR": str(tmp_path / "data"),
        "RXTRACE_SECRET_KEY": "k" * 32,
        "RXTRACE_ADMIN_PASSWORD_FILE": str(secret),
        "RXTRACE_PORT": str(port),
    }
    for attempt in range(2):  # the second start finds the admin and adds nobody
        server = subprocess.Popen(
            [str(REPO / "scripts" / "container-start")], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            for _ in range(150):
                if server.poll() is not None:
                    raise AssertionError(server.stderr.read() if server.stderr else "exited")
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            assert _login(port, "admin", "first admin passphrase") == 200, attempt
        finally:
            server.terminate()
            server.wait(timeout=10)
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "rxtrace"), "user", "list", "--format", "json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)["users"]] == [("admin", "admin")]
