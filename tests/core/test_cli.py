"""The installed ``rxtrace`` command: runs from any folder, speaks tables, one JSON, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "sample"


def rxtrace_command() -> str:
    found = shutil.which("rxtrace") or str(Path(sys.executable).with_name("rxtrace"))
    assert Path(found).exists(), "the rxtrace console command is not installed"
    return found


def run(
    args: list[str], tmp_path: Path, *, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RXTRACE_")}
    environ.update({"RXTRACE_DATA_DIR": str(tmp_path / "data"), "RXTRACE_SECRET_KEY": "k" * 32, **env})
    return subprocess.run(
        [rxtrace_command(), *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_installed_command_runs_from_another_folder(tmp_path: Path) -> None:
    # A folder named like the packages must not shadow them: the import root is rxtrace.*.
    for name in ("trace", "api", "geo", "scanners"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('shadowed')\n")
    result = run(["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("load", "resolve", "rejects", "demo"):
        assert command in result.stdout


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared sample absent")
def test_load_then_resolve_json_is_one_document(tmp_path: Path) -> None:
    loaded = run(["load", str(SAMPLE), "--format", "json"], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    document = json.loads(loaded.stdout)
    assert document["tables"]["dispensing"]["taken"] == 1422
    # The leads' basis was prepared from the sales just stored.
    assert document["lead_basis"]["params"]["window_days"] == 30
    assert document["lead_basis"]["token"].split(":")[1] == "1422"
    resolved = run(["resolve", "--case", "CASE-SAMPLE", "--format", "json"], tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    doc = json.loads(resolved.stdout)
    assert doc["summary"]["boxes"] == sum(doc["summary"]["statuses"].values())
    # The command leaves without the interpreter's teardown, but only after closing the
    # database (SQLite folds its write-ahead log back: the audit event it wrote is in the file).
    assert not (tmp_path / "data" / "rxtrace.db-wal").exists()
    with sqlite3.connect(tmp_path / "data" / "rxtrace.db") as conn:
        audited = conn.execute("SELECT count(*) FROM audit_event WHERE action = 'rxtrace resolve'")
        assert audited.fetchone()[0] == 1
    table = run(["resolve", "--case", "CASE-SAMPLE"], tmp_path)
    assert table.returncode == 0 and "dispensed" in table.stdout
    csv_out = run(["resolve", "--case", "CASE-SAMPLE", "--format", "csv"], tmp_path)
    assert csv_out.stdout.splitlines()[0].startswith("code,key,family,status")


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared sample absent")
def test_load_can_leave_the_leads_basis_to_the_first_leads_run(tmp_path: Path) -> None:
    sales = str(SAMPLE / "dispensing_part1.csv")
    loaded = run(["load", sales, "--no-prepare-leads", "--format", "json"], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["lead_basis"] is None
    database = tmp_path / "data" / "rxtrace.db"

    def basis() -> list[tuple[str]]:
        with sqlite3.connect(database) as conn:
            return conn.execute("SELECT value FROM meta WHERE name = 'lead_basis'").fetchall()

    assert basis() == []
    # Loading it again stores nothing; left to the first leads run, as asked. (Without the
    # option a load prepares a basis that does not describe what is stored: test_kill_load.)
    again = run(["load", sales, "--no-prepare-leads", "--format", "json"], tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout)["lead_basis"] is None
    leads = run(["leads", "--kind", "code", "--format", "json", "--no-save"], tmp_path)
    assert leads.returncode == 0, leads.stderr
    assert "leads" in json.loads(leads.stdout)
    assert "Preparing the leads' basis" in leads.stderr
    assert len(basis()) == 1
    warm = run(["leads", "--kind", "code", "--format", "json", "--no-save"], tmp_path)
    assert warm.returncode == 0 and warm.stdout == leads.stdout
    assert "Preparing" not in warm.stderr


def test_failures_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("hello\n")
    refused = run(["load", str(bad)], tmp_path)
    assert refused.returncode != 0 and refused.stderr.strip().count("\n") == 0
    assert "refused" in refused.stderr
    missing = run(["resolve", "--case", "NOPE"], tmp_path)
    assert missing.returncode != 0
    assert missing.stderr.strip().count("\n") == 0 and "No case 'NOPE'" in missing.stderr
    # Every command that takes a case says a missing one in the same words.
    for command in (["hotspots", "--case", "NOPE"], ["leads", "--case", "NOPE"], ["graph", "--case", "NOPE"]):
        other = run(command, tmp_path)
        assert other.returncode != 0 and other.stderr.strip().splitlines()[-1] == missing.stderr.strip(), (
            command
        )
    nothing = run(["resolve"], tmp_path)
    assert nothing.returncode != 0 and "exactly one of" in nothing.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run(["resolve", "8" * 20], tmp_path, RXTRACE_DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error: database:")
    assert result.stderr.strip().count("\n") == 0


def test_the_command_line_says_what_to_do_the_domain_does_not(tmp_path: Path) -> None:
    # Domain messages name no flag and no variable; the command line adds the remedy.
    from rxtrace.trace.errors import LeadNotFoundError

    assert "rxtrace" not in str(LeadNotFoundError("No lead 12345."))
    result = run(["lead", "12345"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: No lead 12345. Run `rxtrace leads` to raise leads."


@pytest.mark.parametrize("url", ["nonsense", "mysql://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_a_database_url_rxtrace_cannot_use_is_one_line(tmp_path: Path, url: str) -> None:
    result = run(["cases"], tmp_path, RXTRACE_DATABASE_URL=url)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "sqlite:///PATH or postgresql://" in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run(["--version"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("rxtrace ")


def test_rejects_refuses_an_unknown_table(tmp_path: Path) -> None:
    result = run(["rejects", "--table", "nope"], tmp_path)
    assert result.returncode != 0 and "Unknown table 'nope'" in result.stderr


def test_rejects_csv_lists_refused_files_too(tmp_path: Path) -> None:
    (tmp_path / "junk.csv").write_text("what,is,this\n1,2,3\n", encoding="utf-8")
    assert run(["load", str(tmp_path / "junk.csv")], tmp_path).returncode != 0
    result = run(["rejects", "--format", "csv"], tmp_path)
    assert result.returncode == 0
    assert "junk.csv" in result.stdout and "file refused" in result.stdout


def test_cases_and_seizures_list_what_is_on_record(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "sample"
    assert run(["load", str(sample), "--no-prepare-leads"], tmp_path).returncode == 0
    cases = json.loads(run(["cases", "--format", "json"], tmp_path).stdout)["cases"]
    seizures = json.loads(run(["seizures", "--format", "json"], tmp_path).stdout)["seizures"]
    assert cases and seizures
    for case in cases:
        mine = [s for s in seizures if s["case_id"] == case["case_id"]]
        assert case["seizures"] == len(mine) and case["codes"] == sum(s["codes"] for s in mine)
        assert sum(case["statuses"].values()) == case["boxes"]
    table = run(["seizures"], tmp_path)
    assert table.returncode == 0 and seizures[0]["seizure_id"] in table.stdout
    none = run(["seizures", "--case", "NOPE"], tmp_path)
    assert none.returncode == 0 and "No seizure of case 'NOPE'" in none.stderr


def test_a_reading_command_refuses_a_database_file_that_is_not_there(tmp_path: Path) -> None:
    typo = tmp_path / "no" / "such.db"
    result = run(["resolve", "--case", "X"], tmp_path, RXTRACE_DATABASE_URL=f"sqlite:///{typo}")
    assert result.returncode != 0 and f"No database at '{typo}'" in result.stderr
    assert not typo.parent.exists()  # nothing created


def test_the_resolve_table_says_why_a_code_is_malformed(tmp_path: Path) -> None:
    assert (
        run(
            [
                "load",
                str(
                    Path(__file__).resolve().parents[2].parent
                    / "shared"
                    / "contract"
                    / "sample"
                    / "catalog.csv"
                ),
            ],
            tmp_path,
        ).returncode
        == 0
    )
    result = run(["resolve", "hello-world"], tmp_path)
    assert result.returncode == 0 and "malformed" in result.stdout
    assert "neither a" in " ".join(result.stdout.split())


def test_help_shows_no_type_after_a_flag(tmp_path: Path) -> None:
    for command in (["scan", "--help"], ["leads", "--help"], ["--help"]):
        shown = run(command, tmp_path, COLUMNS="120")
        assert shown.returncode == 0, shown.stderr
        assert "--help" in shown.stdout and "<bool>" not in shown.stdout, shown.stdout
