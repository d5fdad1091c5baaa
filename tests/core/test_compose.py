"""The server deployment (docker-compose.yml) run for real: PostgreSQL with PostGIS from
docker/postgis and the rxtrace server, built by scripts/docker-build without Docker Hub. The
stack migrates PostgreSQL, makes the first admin from a secret once, keeps its data across a
restart, and the server starts again with the database's network alone, which has no way out.

Uses ``docker compose`` (the v2 plugin) when there is one, else ``docker-compose`` (v1, Debian
12's). Skips only where no Docker daemon or no compose answers, and fails instead when
``RXTRACE_REQUIRE_DOCKER=1`` (``.ci/run`` installs docker-compose, starts a daemon and sets it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .dockerkit import LOGIN

REPO = Path(__file__).resolve().parents[2]
IMAGES = {"RXTRACE_IMAGE": "rxtrace:test", "RXTRACE_DB_IMAGE": "rxtrace-postgis:test"}

pytestmark = pytest.mark.slow


def _run(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=900)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done


def _compose_command() -> list[str] | None:
    """``docker compose`` where the plugin is installed, else ``docker-compose``, else None."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        try:
            if _run(*command, "version", check=False).returncode == 0:
                return command
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def _missing(reason: str) -> None:
    if os.environ.get("RXTRACE_REQUIRE_DOCKER") == "1":
        raise RuntimeError(f"Docker required: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def compose_command() -> list[str]:
    try:
        daemon = _run("docker", "info", check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        daemon = False
    if not daemon:
        _missing("no Docker daemon answers (docker info)")
    command = _compose_command()
    if command is None:
        _missing("no docker compose nor docker-compose (apt-get install docker-compose)")
    assert command is not None
    # Both images, as the README builds them (cached layers: seconds when the image test ran).
    _run(str(REPO / "scripts" / "docker-build"), "all", env={**os.environ, **IMAGES})
    return command


@dataclass
class Stack:
    compose: Callable[..., subprocess.CompletedProcess[str]]
    port: int
    password: str

    def container(self, service: str) -> str:
        found = self.compose("ps", "-q", service).stdout.split()
        assert len(found) == 1, found
        return found[0]


@pytest.fixture
def stack(compose_command: list[str], tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Stack]:
    folder = tmp_path / "secrets"
    folder.mkdir()
    password = "first admin " + secrets.token_hex(8)
    (folder / "admin_password").write_text(password + "\n")
    (folder / "secret.key").write_text(secrets.token_hex(32) + "\n")
    # The server's user in its container is not root: it reads the mounted files themselves.
    for path in folder.iterdir():
        path.chmod(0o644)
    port = free_port()
    env = {
        **os.environ, **IMAGES,
        "RXTRACE_SECRETS": str(folder), "RXTRACE_PUBLISH": f"127.0.0.1:{port}",
        "COMPOSE_PROJECT_NAME": f"rxtracetest{secrets.token_hex(4)}",
    }  # fmt: skip
    base = [*compose_command, "-f", str(REPO / "docker-compose.yml")]

    def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(*base, *args, env=env, check=check)

    try:
        yield Stack(compose, port, password)
    finally:
        compose("down", "-v", "--remove-orphans", check=False)


def _post_login(port: int, password: str) -> tuple[int, dict[str, object]]:
    data = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
    # The published port on this machine's loopback: no proxy between.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/api/auth/login", data=data, timeout=10) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _me(port: int, token: str) -> tuple[int, dict[str, object]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/auth/me", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with opener.open(request, timeout=10) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _healthy(stack: Stack, service: str) -> str:
    """The service's container once Docker reports it healthy."""
    name = stack.container(service)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = json.loads(_run("docker", "inspect", "-f", "{{json .State}}", name).stdout)
        if not state["Running"]:
            logs = _run("docker", "logs", name, check=False)
            raise AssertionError(f"{service} stopped: {logs.stdout[-2000:]}{logs.stderr[-2000:]}")
        if state["Health"]["Status"] == "healthy":
            return name
        time.sleep(0.5)
    raise AssertionError(f"{service} not healthy within 180 s")


def _sql(db: str, query: str) -> str:
    return _run("docker", "exec", db, "psql", "-U", "rxtrace", "-d", "rxtrace", "-tAc", query).stdout.strip()


def _networks(name: str) -> list[str]:
    found = _run("docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", name).stdout
    return sorted(json.loads(found))


def _users(app: str) -> list[dict[str, object]]:
    listed = json.loads(_run("docker", "exec", app, "rxtrace", "user", "list", "--format", "json").stdout)
    users: list[dict[str, object]] = listed["users"]
    return users


def test_the_stack_migrates_postgis_makes_the_admin_once_and_keeps_its_data(stack: Stack) -> None:
    stack.compose("up", "-d", "--no-build")
    db, app = _healthy(stack, "db"), _healthy(stack, "app")

    # PostgreSQL with PostGIS, migrated to the server's newest schema.
    assert _sql(db, "SELECT postgis_lib_version()").startswith("3.")
    head = _run(
        "docker", "exec", app, "python", "-c",
        "from rxtrace.trace.store.db import HEAD_REVISION; print(HEAD_REVISION)",
    ).stdout.strip()  # fmt: skip
    assert _sql(db, "SELECT version_num FROM alembic_version") == head
    tables = "SELECT to_regclass('user_account') IS NOT NULL AND to_regclass('dispensing') IS NOT NULL"
    assert _sql(db, tables) == "t"

    # The database has only the internal network; the server is on it and on the publishing one.
    inside = _networks(db)
    assert len(inside) == 1 and inside[0].endswith("_inside"), inside
    assert _run("docker", "network", "inspect", "-f", "{{.Internal}}", inside[0]).stdout.strip() == "true"
    assert len(_networks(app)) == 2 and inside[0] in _networks(app)

    status, answer = _post_login(stack.port, stack.password)
    assert status == 200 and isinstance(answer.get("access_token"), str), answer
    token = str(answer["access_token"])
    assert _post_login(stack.port, "a wrong password")[0] == 401
    users = _users(app)
    assert [(u["name"], u["role"]) for u in users] == [("admin", "admin")]

    # A restart of the whole stack keeps the data (the session too) and adds nobody.
    stack.compose("stop")
    stack.compose("up", "-d", "--no-build")
    db, app = _healthy(stack, "db"), _healthy(stack, "app")
    assert _users(app) == users
    status, me = _me(stack.port, token)
    assert (status, me.get("user"), me.get("role")) == (200, "admin", "admin")
    assert _post_login(stack.port, stack.password)[0] == 200

    # The server starts again, migrations and all, with only the database's network: nothing
    # of its start needs a way out.
    outside = [n for n in _networks(app) if n != inside[0]]
    _run("docker", "network", "disconnect", outside[0], app)
    _run("docker", "restart", app)
    assert _networks(app) == inside
    app = _healthy(stack, "app")
    login = _run("docker", "exec", app, "python", "-c", LOGIN, stack.password).stdout.strip()
    assert login == "200"
    assert _users(app) == users

    for service in ("db", "app"):
        logs = stack.compose("logs", "--no-color", service)
        assert "Traceback" not in logs.stdout + logs.stderr, service
