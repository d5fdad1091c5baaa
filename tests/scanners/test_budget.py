"""The time budget: ``rxtrace scan --budget-ms`` and what a budget does to the reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rxtrace.api.cli import app
from rxtrace.scanners import DEFAULT_BUDGET_MS, scan_array
from rxtrace.scanners.harsh import harsh_photo

RXTRACE = Path(sys.executable).parent / "rxtrace"
# Harsh photos on which the second tier reads codes the cheap passes do not (and others).
PHOTOS = (0, 3, 11, 13, 25, 31)


def test_scan_offers_budget_ms_with_its_default() -> None:
    result = CliRunner().invoke(app, ["scan", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--budget-ms" in result.stdout
    assert DEFAULT_BUDGET_MS == 80.0


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf", "1e9", ""])
def test_bad_budget_is_one_clear_line_and_a_failure(value: str, tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(harsh_photo(0).jpeg)
    done = subprocess.run(
        [str(RXTRACE), "scan", str(photo), "--seizure", "S1", "--budget-ms", value],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--budget-ms" in lines[0] and repr(value) in lines[0]


def test_a_larger_budget_never_reads_fewer_codes() -> None:
    # 0 runs the cheap passes only; None lifts the budget. Whatever the machine's speed, a
    # budget's second tier handles a subset of the unlimited one's regions, and its reads
    # never contradict the first tier's: each larger budget's boxes include the smaller's.
    total = {0.0: 0, DEFAULT_BUDGET_MS: 0, None: 0}
    for index in PHOTOS:
        pixels = harsh_photo(index).pixels()
        boxes = {b: {x.code for x in scan_array(pixels, budget_ms=b).boxes} for b in total}
        assert boxes[0.0] <= boxes[DEFAULT_BUDGET_MS] <= boxes[None]
        total = {b: total[b] + len(boxes[b]) for b in total}
    # The second tier does read something here, or the check above would prove nothing.
    assert total[None] > total[0.0]
