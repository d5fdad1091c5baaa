"""Plain builders for contract files and stored rows used across the core tests."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DISPENSING_COLUMNS = (
    "setl_id",
    "mdtrt_sn",
    "fixmedins_code",
    "psn_no",
    "certno",
    "psn_name",
    "dr_code",
    "rxno",
    "med_list_codg",
    "drug_trac_codg",
    "trdn_flag",
    "sel_retn_cnt",
    "sel_retn_time",
    "sel_retn_type",
    "mdtrt_setl_type",
    "finl_trns_pric",
    "hifp_pay",
    "manu_lotnum",
    "expy_end",
)

_counter = iter(range(1, 10**9))


def sale(code: str, **overrides: Any) -> dict[str, Any]:
    """One dispensing row: a whole-box insurance sale of ``code`` unless overridden."""
    n = next(_counter)
    row: dict[str, Any] = {
        "setl_id": f"S{n:09d}",
        "mdtrt_sn": f"M{n:09d}",
        "fixmedins_code": "C310115000001",
        "psn_no": "310000000001",
        "certno": "310119461691164854",
        "psn_name": "张三",
        "dr_code": "D01",
        "rxno": f"RX{n}",
        "med_list_codg": "X1",
        "drug_trac_codg": code,
        "trdn_flag": "0",
        "sel_retn_cnt": "1",
        "sel_retn_time": f"2025-03-04 09:{n % 60:02d}:00",
        "sel_retn_type": "sale",
        "mdtrt_setl_type": "1",
        "finl_trns_pric": "66.0",
        "hifp_pay": "49.50",
        "manu_lotnum": "L1",
        "expy_end": "2027-12-31",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def returned(code: str, **overrides: Any) -> dict[str, Any]:
    values = {"sel_retn_type": "return", "sel_retn_cnt": "-1", "hifp_pay": "-49.50"}
    values.update(overrides)
    return sale(code, **values)


def write_csv(
    path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, encoding: str = "utf-8"
) -> Path:
    columns = list(columns or (rows[0].keys() if rows else DISPENSING_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_world(
    folder: Path,
    *,
    sales: Sequence[dict[str, Any]],
    seized: Sequence[tuple[str, str]] = (),
    catalog: Sequence[dict[str, Any]] = (),
    aggregation: Sequence[tuple[str, str]] = (),
    case_id: str = "CASE-1",
) -> Path:
    """A folder of contract files: sales, one seizure per distinct seizure id, their codes."""
    folder.mkdir(parents=True, exist_ok=True)
    if sales:
        write_csv(folder / "dispensing.csv", sales, DISPENSING_COLUMNS)
    seizures = sorted({sid for sid, _ in seized})
    if seizures:
        write_csv(
            folder / "seizures.csv",
            [
                {
                    "seizure_id": sid,
                    "case_id": case_id,
                    "seized_at": f"2026-01-{i + 10} 10:00:00",
                    "place_kind": "stall",
                    "lon": "121.4",
                    "lat": "31.2",
                }
                for i, sid in enumerate(seizures)
            ],
        )
        write_csv(
            folder / "seized_codes.csv",
            [
                {"seizure_id": sid, "code": code, "scanned_at": "", "box_med_list_codg": ""}
                for sid, code in seized
            ],
        )
    if catalog:
        write_csv(folder / "catalog.csv", list(catalog))
    if aggregation:
        write_csv(
            folder / "aggregation.csv",
            [{"parent_code": p, "child_code": c, "level": "case"} for p, c in aggregation],
        )
    return folder
