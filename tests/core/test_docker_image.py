"""The server image (Dockerfile), built and run for real: it starts with no network at all,
migrates its database, makes the first admin from a secret once, and serves.

Skips only where no Docker daemon answers, and fails instead when ``RXTRACE_REQUIRE_DOCKER=1``
(``.ci/run`` starts one and sets it).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .dockerkit import LOGIN

REPO = Path(__file__).resolve().parents[2]
TAG = "rxtrace:test"

pytestmark = pytest.mark.slow


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=900)


def _daemon() -> bool:
    try:
        return _docker("info", check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def image() -> str:
    if not _daemon():
        if os.environ.get("RXTRACE_REQUIRE_DOCKER") == "1":
            raise RuntimeError("Docker required but no daemon answers (docker info)")
        pytest.skip("no Docker daemon")
    built = subprocess.run(
        [str(REPO / "scripts" / "docker-build"), "app"],
        env={**os.environ, "RXTRACE_IMAGE": TAG}, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return TAG


@pytest.fixture
def container(image: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    folder = tmp_path / "secrets"
    folder.mkdir()
    password = "first admin " + secrets.token_hex(8)
    (folder / "rxtrace_admin_password").write_text(password + "\n")
    (folder / "rxtrace_key").write_text(secrets.token_hex(32) + "\n")
    # The container's user is not root: it must be able to read what is mounted.
    folder.chmod(0o755)
    tmp_path.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    name = f"rxtrace-test-{secrets.token_hex(4)}"
    _docker(
        "run", "-d", "--name", name, "--network", "none",
        "-v", f"{folder}:/run/secrets:ro", "-e", "RXTRACE_KEY_FILE=/run/secrets/rxtrace_key",
        image,
    )  # fmt: skip
    try:
        yield name, password
    finally:
        _docker("rm", "-f", "-v", name, check=False)  # -v: its /data volume too


def _login_status(name: str, password: str) -> str:
    """The login's status once the server answers (or what stopped it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = _docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
        if state != "true":
            logs = _docker("logs", name, check=False)
            raise AssertionError(f"the container stopped: {logs.stdout[-2000:]}{logs.stderr[-2000:]}")
        answer = _docker("exec", name, "python", "-c", LOGIN, password, check=False).stdout.strip()
        if answer and answer != "down":
            return answer
        time.sleep(1)
    raise AssertionError("the server did not answer within 120 s")


def test_the_image_starts_with_no_network_makes_the_first_admin_once_and_serves(
    container: tuple[str, str],
) -> None:
    name, password = container
    networks = json.loads(_docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name).stdout)
    assert list(networks) == ["none"]
    assert _login_status(name, password) == "200"
    assert _login_status(name, "a wrong password") == "401"
    _docker("restart", name)  # the second start finds the admin and adds nobody
    assert _login_status(name, password) == "200"
    listed = json.loads(_docker("exec", name, "rxtrace", "user", "list", "--format", "json").stdout)
    assert [(u["name"], u["role"]) for u in listed["users"]] == [("admin", "admin")]
    logs = _docker("logs", name)
    assert "Traceback" not in logs.stdout + logs.stderr
