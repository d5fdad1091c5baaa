"""The batch converter decides nothing the row converter would not: same values, same reasons.

``convert_batch`` takes fast paths over whole columns; these tests feed it batches that mix
plain rows with every odd spelling the row path accepts or refuses, and demand for every row
exactly what ``convert_row`` gives: the stored values, or the reason it is set aside.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxtrace.trace.errors import ParseError
from rxtrace.trace.ingest.batch import convert_batch
from rxtrace.trace.ingest.contract import TABLES, convert_row
from rxtrace.trace.protect import Protector

PROTECTOR = Protector(b"k" * 32)
SPEC = TABLES["dispensing"]

# Each column draws from plain values (the fast path) and odd ones (the row path's own parser,
# or a refusal). None stands for a value a JSON object lacks.
POOLS: dict[str, list[str | None]] = {
    "setl_id": ["S1", "S2", " S3 ", "", "   ", None, "x" * 64, "x" * 65],
    "mdtrt_sn": ["M1", "", " ", None, "y" * 65],
    "fixmedins_code": ["H310101", "P1", "", None],
    "psn_no": ["3100000001", "3100000002", "", " 31 "],
    "med_list_codg": ["XA01", "", None, " XA02 "],
    "drug_trac_codg": [
        "83395630003642750912",
        "81234567890123456789",
        " 83395630003642750912 ",
        "8339 5630 0036 4275 0912",
        "]C183395630003642750912",
        "(01)06901234567892(21)ABC123",
        "0106901234567892\x1d21XYZ",
        "8339563000364275091",
        "73395630003642750912",
        "",
        None,
        "８３３９５６３０００３６４２７５０９１２",
    ],
    "sel_retn_cnt": ["1", "2", "10", "0", "-1", " 3 ", "1.0", "1.5", "x", "", "٣", None],
    "sel_retn_time": [
        "2025-03-04 09:12:45",
        "2025-03-04T09:12:45",
        "2025-03-04 09:12",
        "2025-03-04T01:12:45Z",
        "2025-03-04 09:12:45+08:00",
        " 2025-03-04 09:12:45 ",
        "2025/03/04 09:12:45",
        "20250304091245",
        "2025-03-04",
        "2025-13-04 09:12:45",
        "yesterday",
        "",
        None,
    ],
    "hifp_pay": [
        "12.5",
        "100",
        "0",
        "0.01",
        "3.",
        "-26.25",
        "1,000.50",
        "20.625",
        "abc",
        "",
        "١٢",
        None,
        "nan",
    ],
    "certno": ["310101199001011234", " 310101199001011234 ", "", None, "310101199001011234".lower()],
    "psn_name": ["张三", "李四", "", None],
    "dr_code": ["D1", "", None],
    "rxno": ["RX1", "", None],
    "trdn_flag": ["0", "1", "true", "TRUE", "", " ", "2", None],
    "sel_retn_type": ["sale", "return", "3505", "3506", "SALE", "", "gift", None],
    "mdtrt_setl_type": ["1", "2", "", "3", None],
    "finl_trns_pric": ["12.3456", "1", "", None, "1.23456", "-1"],
    "manu_lotnum": ["L1", "", None],
    "expy_end": ["2027-12-31", "20271231", "2027/12/31", "2027-02-30", "", None, "2027-12-31 00:00:00"],
    "vendor_note": ["", None, "kept"],
}
COLUMNS = tuple(POOLS)
PLAIN = {name: pool[0] for name, pool in POOLS.items()}


def _row_path(values: dict[str, str | None]) -> dict[str, Any] | str:
    try:
        return convert_row(SPEC, values, PROTECTOR)
    except ParseError as exc:
        return str(exc)


def _check(rows: list[list[str | None]]) -> None:
    batch = convert_batch(SPEC, COLUMNS, rows, PROTECTOR)
    got: dict[int, dict[str, Any] | str] = dict(batch.failed)
    for position, index in enumerate(batch.taken):
        got[index] = {name: column[position] for name, column in zip(batch.names, batch.columns, strict=True)}
    assert sorted(got) == list(range(len(rows)))
    for index, row in enumerate(rows):
        assert got[index] == _row_path(dict(zip(COLUMNS, row, strict=True))), row


row_strategy = st.fixed_dictionaries(
    {name: st.one_of(st.just(PLAIN[name]), st.sampled_from(pool)) for name, pool in POOLS.items()}
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_strategy, min_size=1, max_size=12))
def test_batch_matches_row_path(rows: list[dict[str, str | None]]) -> None:
    _check([[row[name] for name in COLUMNS] for row in rows])


def test_every_odd_value_alone_in_a_plain_batch() -> None:
    # Each odd value in a batch of otherwise plain rows: the fast path must step aside for that
    # row only, and the plain rows must come out as the row path makes them.
    for name, pool in POOLS.items():
        for value in pool:
            rows = [[PLAIN[c] for c in COLUMNS] for _ in range(3)]
            rows[1][COLUMNS.index(name)] = value
            _check(rows)


def test_plain_batch_is_taken_whole() -> None:
    rows = [[PLAIN[c] for c in COLUMNS] for _ in range(5)]
    rows[2][COLUMNS.index("setl_id")] = "S9"
    batch = convert_batch(SPEC, COLUMNS, rows, PROTECTOR)
    assert batch.taken == list(range(5))
    assert not batch.failed
    _check(rows)


def test_other_tables_take_the_row_path() -> None:
    spec = TABLES["institutions"]
    columns = ("fixmedins_code", "name", "lon", "lat")
    rows: list[list[str | None]] = [["H1", "Clinic", "121.4", "31.2"], ["H2", "", "121.4", "31.2"]]
    batch = convert_batch(spec, columns, rows, PROTECTOR)
    assert batch.taken == [0]
    assert batch.failed == {1: "Missing required value 'name'."}
    assert batch.columns[batch.names.index("fixmedins_code")] == ["H1"]
