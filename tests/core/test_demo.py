"""The README's main job, end to end on a small world: every step runs and leaves its output."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from rxtrace.trace.demo.world import DEMO_CASE, generate_world
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.resolve.service import resolve_case

from .test_cli import run, rxtrace_command


def test_demo_world_loads_unchanged_and_plants_its_patterns(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    world = generate_world(tmp_path / "data", persons=300)
    report = load_paths(world.files, session=session, protector=protector)
    assert not report.refused
    assert all(f.rejected == 0 for f in report.files), [(f.path, f.rejected) for f in report.files]
    encodings = {f.encoding for f in report.files}
    assert {"utf-8", "gb18030"} <= encodings and "jsonl" in {f.file_format for f in report.files}
    result = resolve_case(DEMO_CASE, session=session)
    statuses = result.summary.statuses
    assert statuses["dispensed"] > 100 and statuses["dispensed_repeatedly"] >= 10
    assert statuses["malformed"] == 2 and statuses["not_dispensed"] >= 1
    assert result.summary.clone_suspects >= 1
    assert any(box.via_case for box in result.boxes)  # the carton expanded
    again = generate_world(tmp_path / "again", persons=300)
    assert [p.read_bytes() for p in world.files] == [p.read_bytes() for p in again.files]  # fixed seed


@pytest.mark.slow
def test_demo_command_writes_every_output(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run(["demo", "--no-serve", "--dir", str(folder), "--persons", "300"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in (
        "map.html",
        "map.png",
        f"dossier_{DEMO_CASE}.html",
        f"dossier_{DEMO_CASE}.pdf",
        f"dossier_{DEMO_CASE}.xlsx",
        "rxtrace.db",
    ):
        assert (folder / name).stat().st_size > 0, name
    assert len(list((folder / "photos").glob("*.jpg"))) >= 3
    assert "dispensed_repeatedly" in result.stdout and "Top leads" in result.stdout
    assert "Boxes" not in result.stdout  # the summary, not hundreds of rows: every box is in the files
    # The closing hint runs as printed, also where rxtrace is not on PATH (after `make demo`).
    hint = next(line for line in result.stderr.splitlines() if line.startswith("Try: "))
    command = hint.removeprefix("Try: ").split()
    settings = dict(item.split("=", 1) for item in command if item.startswith("RXTRACE_"))
    program = [item for item in command if not item.startswith("RXTRACE_")]
    shell_path = os.environ["PATH"] if program[0] == "rxtrace" else "/usr/bin:/bin"
    tried = subprocess.run(
        program, env={"PATH": shell_path, "HOME": str(tmp_path), **settings},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tried.returncode == 0, tried.stderr
    assert json.loads(tried.stdout)["scope"]["case_id"] == DEMO_CASE
    for page in ("map.html", f"dossier_{DEMO_CASE}.html"):
        assert not re.search(r"https?://", (folder / page).read_text(encoding="utf-8")), page
    resolved = run(
        ["resolve", "--case", DEMO_CASE, "--format", "json"],
        tmp_path,
        RXTRACE_DATABASE_URL=f"sqlite:///{folder / 'rxtrace.db'}",
        RXTRACE_KEY_FILE=str(folder / "secret.key"),
    )
    assert resolved.returncode == 0, resolved.stderr
    doc = json.loads(resolved.stdout)
    assert any(box["seizure_id"] == "SZ-2026-0117-05" for box in doc["codes"])  # the scanned pile


@pytest.mark.slow
def test_the_demo_ends_by_serving_the_pages_with_its_account(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    import time
    import urllib.parse
    import urllib.request

    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RXTRACE_")}
    environ["RXTRACE_DATA_DIR"] = str(tmp_path / "data")
    demo = subprocess.Popen(
        [rxtrace_command(), "demo", "--dir", str(tmp_path / "demo"), "--persons", "300", "--port", str(port)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        password = None
        assert demo.stderr is not None
        for line in demo.stderr:  # the batch's report, then the line with the account
            found = re.search(r"log in as 'demo' with password (\S+)", line)
            if found:
                password = found.group(1)
                break
        assert password, "the demo printed no account"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as page:
                    assert 'name="username"' in page.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        data = urllib.parse.urlencode({"username": "demo", "password": password}).encode()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/auth/login", data=data, timeout=10
        ) as answer:
            assert json.loads(answer.read())["role"] == "supervisor"
    finally:
        demo.terminate()
        demo.wait(timeout=30)
