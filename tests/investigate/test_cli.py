"""The commands: one JSON document on stdout, tables by default, refusals exit non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rxtrace.api.cli import app
from rxtrace.trace.errors import ConflictError

from .builders import World


@pytest.fixture
def runner(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("RXTRACE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RXTRACE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RXTRACE_SHOW_SENSITIVE", raising=False)
    return CliRunner()


def test_leads_json_then_workflow(runner: CliRunner, session: Session, case_world: World) -> None:
    result = runner.invoke(app, ["leads", "--case", "K1", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {"kind", "id", "name", "score", "rules", "evidence"} <= set(document["leads"][0])
    assert "RENTED" not in result.stdout  # masked
    card = next(lead for lead in document["leads"] if lead["kind"] == "card")
    number = str(card["lead_id"])
    refused = runner.invoke(app, ["lead", number, "--status", "escalated"])
    assert refused.exit_code != 0 and isinstance(refused.exception, ConflictError)
    moved = runner.invoke(
        app, ["lead", number, "--status", "investigating", "--note", "go", "--by", "li", "--format", "json"]
    )
    assert moved.exit_code == 0, moved.output
    history = json.loads(moved.stdout)["history"]
    assert [h["by"] for h in history] == ["rxtrace", "li"]
    shown = runner.invoke(app, ["lead", f"L{number}"])
    assert shown.exit_code == 0 and "investigating" in shown.stdout


def test_graph_timeline_report(
    runner: CliRunner, session: Session, case_world: World, tmp_path: Path
) -> None:
    graph = runner.invoke(app, ["graph", "--case", "K1", "--format", "json"])
    assert graph.exit_code == 0 and json.loads(graph.stdout)["case_id"] == "K1"
    png = tmp_path / "g.png"
    assert runner.invoke(app, ["graph", "--case", "K1", "--format", "png", "--out", str(png)]).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    line = runner.invoke(app, ["timeline", "--case", "K1", "--format", "json"])
    assert line.exit_code == 0 and len(json.loads(line.stdout)["events"]) == 11
    out = tmp_path / "k1.html"
    report = runner.invoke(app, ["report", "--case", "K1", "--format", "html", "--out", str(out), "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["fund_loss"] == "91.65" and out.exists()


def test_graph_speaks_a_summary_and_writes_no_file_unasked(
    runner: CliRunner, session: Session, case_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (
        ["graph", "--case", "K1", "--format", "png"],
        ["timeline", "--case", "K1", "--format", "png"],
    ):
        refused = runner.invoke(app, command)
        assert refused.exit_code != 0 and "--out" in str(refused.exception)
    assert list(tmp_path.glob("*.png")) == []
    table = runner.invoke(app, ["graph", "--case", "K1", "--format", "table"])
    assert table.exit_code == 0 and "Hubs" in table.stdout and "Link chart of case K1" in table.stdout
    piped = runner.invoke(app, ["graph", "--case", "K1"])  # not a terminal: the JSON, as before
    assert json.loads(piped.stdout)["case_id"] == "K1"
