"""The geo commands as a user runs them: one JSON document on stdout, messages on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from geo_worlds import collection_world, small_case
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from rxtrace.api.cli import app
from rxtrace.trace.errors import NotFoundError, RxtraceError
from rxtrace.trace.store.db import make_engine, migrate


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate(engine)
    with sessionmaker(engine)() as s:
        small_case(s)
        collection_world(s)
        s.commit()
    engine.dispose()
    monkeypatch.setenv("RXTRACE_DATABASE_URL", url)
    monkeypatch.setenv("RXTRACE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def run(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.exception


@pytest.mark.parametrize("fmt", ["json", "geojson"])
def test_hotspots_json_is_one_geojson_document(db: Path, fmt: str) -> None:
    code, out, _err = run("hotspots", "--case", "C2", "--layer", "residences", "--format", fmt)
    assert code == 0
    doc = json.loads(out)
    assert doc["type"] == "FeatureCollection" and doc["properties"]["points"] == 70
    hot = [f for f in doc["features"] if f["properties"].get("bin", 0) > 0]
    assert hot and all(isinstance(f["properties"]["fund_yuan"], str) for f in hot)


def test_hotspots_csv_and_table(db: Path) -> None:
    code, out, _ = run("hotspots", "--case", "C2", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("kind,id,lon,lat,count,z,p,p_fdr,bin")
    code, out, _ = run("hotspots", "--case", "C1", "--layer", "seizures")
    assert code == 0 and "Hot spots: seizures" in out
    # The table says each spot in words, not as z and p-values.
    code, out, _ = run("hotspots", "--case", "C2", "--layer", "residences")
    assert code == 0 and "% confidence" in out and "card holders' homes" in out and "p_fdr" not in out


def test_routes_json_keeps_the_contract_keys(db: Path) -> None:
    code, out, _ = run("routes", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"routes"}
    for route in doc["routes"]:
        assert {"from", "to", "parcels", "weight_kg", "flagged", "why"} <= set(route)


def test_unknown_case_fails_with_a_message(db: Path) -> None:
    code, out, exc = run("routes", "--case", "NOPE", "--format", "json")
    # `rxtrace` (cli.main) prints a RxtraceError as one line; here it surfaces as raised.
    assert code != 0 and out == "" and isinstance(exc, NotFoundError) and "NOPE" in str(exc)


def test_map_writes_html_and_png(db: Path) -> None:
    html, png = db / "m.html", db / "m.png"
    assert run("map", "--case", "C2", "--out", str(html))[0] == 0
    assert run("map", "--case", "C2", "--out", str(png))[0] == 0
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    code, _out, exc = run("map", "--out", str(db / "m.pdf"))
    assert code != 0 and isinstance(exc, RxtraceError)
