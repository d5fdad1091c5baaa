"""The time budget: ``rxtrace scan --budget-ms`` and what a budget does to the reads."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rxtrace.api.cli import app
from rxtrace.scanners import DEFAULT_BUDGET_MS, decode_frame, scan_array
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
    # 0 runs the cheap passes only; None lifts the budget. The budget counts estimated work,
    # not time: a larger one runs the same second-tier steps and more, and their reads never
    # contradict the first tier's, so each larger budget's boxes include the smaller's.
    budgets = (0.0, 50.0, DEFAULT_BUDGET_MS, None)
    total = dict.fromkeys(budgets, 0)
    for index in PHOTOS:
        pixels = harsh_photo(index).pixels()
        boxes = [{x.code for x in scan_array(pixels, budget_ms=b).boxes} for b in budgets]
        assert all(small <= large for small, large in pairwise(boxes))
        total = {b: total[b] + len(got) for b, got in zip(budgets, boxes, strict=True)}
    # The second tier does read something here, or the check above would prove nothing.
    assert total[None] > total[0.0]


def test_same_photo_same_budget_same_reads() -> None:
    # A scan is evidence: the budget is work estimated from pixels, not a clock, so a photo
    # scanned twice (on any machine, under any load) gives the same reads.
    pixels = harsh_photo(PHOTOS[0]).pixels()
    first = decode_frame(pixels, budget_ms=30.0)
    second = decode_frame(pixels, budget_ms=30.0)
    assert first == second
