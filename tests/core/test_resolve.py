"""Resolution follows the contract's table exactly, on SQLite and PostgreSQL, set-based."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.resolve.service import resolve_case, resolve_codes, resolve_seizure

from .builders import returned, sale, write_world

A, B, C, D, E, F, G = (f"8339563000364275{i:04d}" for i in range(7))
GTIN = "06901234567892"
CATALOG = [
    {
        "product_id": "8339563",
        "med_list_codg": "X1",
        "name": "倍他乐克",
        "spec": "47.5mg*7片",
        "manufacturer": "上海医药",
        "units_per_box": "7",
        "price": "38.5",
    }
]


def load_world(session: Session, protector: Protector, folder: Path, **world: object) -> None:
    write_world(folder, **world)  # type: ignore[arg-type]
    report = load_paths([folder], session=session, protector=protector)
    assert not report.refused and all(f.rejected == 0 for f in report.files)


def statuses(session: Session, *codes: str) -> list[str]:
    return [str(box.status) for box in resolve_codes(list(codes), session=session).boxes]


def test_every_status_of_the_contract(any_session: Session, protector: Protector, tmp_path: Path) -> None:
    sales = [
        sale(A),  # dispensed
        sale(B),
        returned(B),  # returned
        sale(C, trdn_flag=1, sel_retn_cnt=3, hifp_pay="2.49"),
        sale(C, trdn_flag=1, sel_retn_cnt=4, hifp_pay="3.32"),  # split 7 of 7: split_pack
        sale(D),
        sale(D, fixmedins_code="C2", psn_no="P2"),  # twice: repeatedly
        sale(E, trdn_flag=1, sel_retn_cnt=5),
        sale(E, trdn_flag=1, sel_retn_cnt=5),  # 10 > 7
        sale(F, mdtrt_setl_type=2, hifp_pay="0"),  # self-paid only: not dispensed
        sale(G),
        returned(G),
        sale(G, psn_no="P3"),  # sale, return, resale: once
    ]
    load_world(any_session, protector, tmp_path / "w", sales=sales, catalog=CATALOG)
    assert statuses(any_session, A, B, C, D, E, F, G, "8123", f"8{'0' * 19}") == [
        "dispensed",
        "returned",
        "split_pack",
        "dispensed_repeatedly",
        "dispensed_repeatedly",
        "not_dispensed",
        "dispensed",
        "malformed",
        "not_dispensed",
    ]


def test_a_repeated_upload_is_named_beside_the_contracts_status(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    # The contract counts two whole-box rows as dispensed repeatedly; when the second is the
    # same settlement uploaded again minutes later, the resolution says so beside the status.
    first = sale(A, sel_retn_time="2025-03-04 09:00:00")
    # Another row (a new visit serial), the same settlement, three minutes on.
    repeat = dict(first, sel_retn_time="2025-03-04 09:03:00", mdtrt_sn=first["mdtrt_sn"] + "-retry")
    later = sale(B, sel_retn_time="2025-03-04 09:00:00")
    resale = sale(B, sel_retn_time="2025-03-09 10:00:00", fixmedins_code="C2", psn_no="P2")
    load_world(any_session, protector, tmp_path / "w", sales=[first, repeat, later, resale], catalog=CATALOG)
    boxes = resolve_codes([A, B], session=any_session).boxes
    assert [str(b.status) for b in boxes] == ["dispensed_repeatedly", "dispensed_repeatedly"]
    assert boxes[0].repeat_uploads == (first["setl_id"],)
    assert boxes[1].repeat_uploads == ()
    assert boxes[0].to_dict()["repeat_uploads"] == (first["setl_id"],)


def test_fund_loss_counts_returns_and_is_exact(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    sales = [
        sale(A, hifp_pay="0.10"),
        sale(A, hifp_pay="0.20", psn_no="P2"),
        sale(B, hifp_pay="49.50"),
        returned(B, hifp_pay="-49.50"),
        sale(C, hifp_pay="33.33"),
        returned(C, hifp_pay="-33.33"),
        sale(C, hifp_pay="33.34"),
    ]
    load_world(any_session, protector, tmp_path / "w", sales=sales)
    result = resolve_codes([A, B, C], session=any_session)
    assert [box.fund_loss for box in result.boxes] == [Decimal("0.30"), Decimal("0.00"), Decimal("33.34")]
    assert result.summary.fund_loss == Decimal("33.64")
    assert result.to_dict()["summary"]["fund_loss"] == Decimal("33.64")


def test_case_codes_expand_and_boxes_count_once(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    parent, middle = "85555550000000000001", "85555550000000000002"
    sales = [sale(A, hifp_pay="10.00"), sale(B, hifp_pay="20.00"), sale(C, hifp_pay="30.00")]
    seized = [("Z1", parent), ("Z1", A), ("Z2", f"]C0{A}"), ("Z2", "nonsense"), ("Z2", "nonsense")]
    load_world(
        any_session,
        protector,
        tmp_path / "w",
        sales=sales,
        seized=seized,
        aggregation=[(parent, A), (parent, middle), (middle, B), (middle, C)],
    )
    result = resolve_case("CASE-1", session=any_session)
    by_key = {box.key: box for box in result.boxes}
    assert set(by_key) == {A, B, C, None}
    assert by_key[A].via_case == parent and by_key[B].via_case == parent
    assert by_key[C].seizure_id == "Z1"
    assert result.summary.boxes == 4  # A once though read three ways; 'nonsense' once
    assert result.summary.fund_loss == Decimal("60.00")
    assert result.summary.statuses["malformed"] == 1


def test_a_case_of_many_seizures_reads_them_in_order_whatever_the_chunks(
    any_session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads are fetched a chunk of seizures at a time; the boxes come in the seizures'
    order (the time seized), each seizure's in the order its codes were recorded."""
    from rxtrace.trace.resolve import service

    seized = [("Z3", C), ("Z1", A), ("Z5", E), ("Z2", B), ("Z1", D), ("Z4", F), ("Z3", A)]
    load_world(any_session, protector, tmp_path / "w", sales=[sale(A)], seized=seized)
    monkeypatch.setattr(service, "_CHUNK", 2)
    result = resolve_case("CASE-1", session=any_session)
    assert [(box.seizure_id, box.key) for box in result.boxes] == [
        ("Z1", A), ("Z1", D), ("Z2", B), ("Z3", C), ("Z4", F), ("Z5", E)
    ]  # fmt: skip
    assert result.scope["reads"] == len(seized)


def test_clone_suspects(any_session: Session, protector: Protector, tmp_path: Path) -> None:
    sales = [
        sale(A, med_list_codg="X1"),
        sale(A, med_list_codg="X2", psn_no="P9"),
        sale(B, med_list_codg="X1"),
    ]
    load_world(any_session, protector, tmp_path / "w", sales=sales)
    from rxtrace.trace.resolve.service import SeizedRead, resolve_reads

    result = resolve_reads(
        [SeizedRead(A), SeizedRead(B, box_med_list_codg="X7"), SeizedRead(C, box_med_list_codg="X7")],
        session=any_session,
    )
    a, b, c = result.boxes
    assert a.clone_suspect and "2 different drugs" in a.clone_reasons[0]
    assert b.clone_suspect and "the box shows X7" in b.clone_reasons[0]
    assert not c.clone_suspect  # nothing sold: nothing to contradict


def test_gs1_written_forms_resolve_to_one_sale(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    code = f"(01){GTIN}(21)SER/1(17)271231"
    load_world(session, protector, tmp_path / "w", sales=[sale(code)])
    result = resolve_codes(
        [f"]d201{GTIN}21SER/1\x1d17271231", f"https://id.gs1.org/01/{GTIN}/21/SER%2F1"], session=session
    )
    assert [str(b.status) for b in result.boxes] == ["dispensed"]


def test_json_shape_and_masking(session: Session, protector: Protector, tmp_path: Path) -> None:
    load_world(
        session,
        protector,
        tmp_path / "w",
        sales=[sale(A, psn_no="310000000051")],
        catalog=CATALOG,
        seized=[("Z1", A)],
    )
    doc = resolve_seizure("Z1", session=session).to_dict()
    assert set(doc) >= {"summary", "codes"}
    assert set(doc["summary"]) >= {
        "boxes",
        "statuses",
        "fund_loss",
        "top_cards",
        "top_institutions",
        "top_doctors",
    }
    (box,) = doc["codes"]
    assert set(box) >= {
        "code",
        "key",
        "family",
        "status",
        "product",
        "sales",
        "fund_loss",
        "clone_suspect",
        "via_case",
        "seizure_id",
    }
    assert box["product"]["name"] == "倍他乐克" and box["product"]["spec"] == "47.5mg*7片"
    (s,) = box["sales"]
    assert set(s) >= {
        "setl_id",
        "rxno",
        "time",
        "fixmedins_code",
        "institution",
        "psn_no",
        "dr_code",
        "med_list_codg",
        "trdn_flag",
        "hifp_pay",
    }
    assert s["psn_no"] == "3100****0051"
    assert doc["summary"]["top_cards"]["by_boxes"][0]["id"] == "3100****0051"
    revealed = resolve_seizure("Z1", session=session).to_dict(reveal=True)
    assert revealed["codes"][0]["sales"][0]["psn_no"] == "310000000051"


def test_unknown_case_is_a_clear_error(session: Session) -> None:
    from rxtrace.trace.errors import NotFoundError

    with pytest.raises(NotFoundError, match="No case 'NOPE'"):
        resolve_case("NOPE", session=session)


def test_resolution_is_set_based(session: Session, protector: Protector, tmp_path: Path) -> None:
    """The number of statements does not grow with the batch: one join for all codes."""
    codes = [f"8339563000{i:010d}" for i in range(300)]
    load_world(session, protector, tmp_path / "w", sales=[sale(c) for c in codes], catalog=CATALOG)

    def statements_for(batch: list[str]) -> int:
        seen: list[str] = []
        bind = session.get_bind()
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(bind, "before_cursor_execute", listener)
        try:
            resolve_codes(batch, session=session)
        finally:
            event.remove(bind, "before_cursor_execute", listener)
        return len(seen)

    assert statements_for(codes[:3]) == statements_for(codes)


def test_statistics_do_not_turn_a_lookup_into_a_scan(
    session: Session, protector: Protector, tmp_path: Path
) -> None:
    """After ANALYZE, SQLite once built a Bloom filter over all of dispensing for one code."""
    from sqlalchemy import text

    codes = [f"8339563000{i:010d}" for i in range(300)]
    load_world(session, protector, tmp_path / "w", sales=[sale(c) for c in codes])
    session.execute(text("ANALYZE"))
    captured: list[str] = []
    # The batch query runs on the driver itself, so it is caught there.
    dbapi = session.connection().connection.driver_connection
    assert dbapi is not None
    dbapi.set_trace_callback(lambda sql: captured.append(sql) if "JOIN dispensing" in sql else None)
    try:
        resolve_codes([codes[7]], session=session)
    finally:
        dbapi.set_trace_callback(None)
    (statement,) = captured
    plan = " | ".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + statement)))
    assert "SEARCH d USING INDEX ix_dispensing_key" in plan, plan
    assert "BLOOM" not in plan and "SCAN d" not in plan, plan


def test_seized_boxes_and_their_sales_for_maps(
    any_session: Session, protector: Protector, tmp_path: Path
) -> None:
    from rxtrace.trace.resolve.service import sales_of_boxes, seized_boxes

    parent = "85555550000000000001"
    seized = [("Z1", parent), ("Z1", "junk"), ("Z2", A), ("Z2", f"]C0{C}")]
    load_world(
        any_session,
        protector,
        tmp_path / "w",
        sales=[sale(A, hifp_pay="10.00"), returned(A)],
        seized=seized,
        aggregation=[(parent, A), (parent, B)],
    )
    boxes = seized_boxes(["Z1", "Z2", "Z3"], session=any_session)
    assert boxes == {"Z1": {A, B}, "Z2": {A, C}}  # A in both seizures; the junk read has no box
    sales = sales_of_boxes([A, B, C], session=any_session)
    assert [s.hifp_pay_fen for s in sales[A]] == [1000, -4950] and B not in sales


@pytest.mark.postgres
def test_one_code_is_looked_up_on_a_kept_plan_on_postgresql(
    pg_engine: Engine, protector: Protector, tmp_path: Path
) -> None:
    """Planning the sale lookup over every month partition was most of a one-code resolve on
    PostgreSQL: with its key as scalars, the driver prepares the statement and the database
    keeps one plan for it, where an array of keys was planned afresh at every execution."""
    codes = [f"8339563000{i:010d}" for i in range(3000)]  # over a year of month partitions
    sales = [sale(c, sel_retn_time=f"2025-{1 + i % 12:02d}-04 09:00:00") for i, c in enumerate(codes)]
    with sessionmaker(pg_engine, expire_on_commit=False)() as session:
        load_world(session, protector, tmp_path / "w", sales=sales, catalog=CATALOG)
        session.execute(text("ANALYZE"))
        session.commit()
        for code in codes[:20]:  # one connection: the session does not end between them
            assert statuses(session, code) == ["dispensed"]
        kept = session.execute(
            text(
                "SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements "
                "WHERE statement LIKE '%JOIN dispensing%'"
            )
        ).scalar_one()
        assert kept > 0
        assert statuses(session, *codes[:2]) == ["dispensed"] * 2  # a batch still resolves


@pytest.mark.parametrize("size", [50, 12_000])
def test_sqlite_joins_a_batch_in_the_code_index_order(session: Session, size: int) -> None:
    """The batch's keys go into SQLite's table sorted as the index on their two halves is: the
    join follows the table's order, and a big batch in a set's order walked the index at
    random (twice as slow on a million keys). National and GS1 keys mixed, both sizes' paths."""
    from rxtrace.trace.codes import key_parts
    from rxtrace.trace.resolve.service import DatabaseLookups

    keys = [f"8339563{i * 7919 % 10**13:013d}" for i in range(size - size // 5)]
    keys += [f"0106901234567892{i:08d}" for i in range(size // 5)]
    lookups = DatabaseLookups(session)
    lookups.table.fill(keys)
    dbapi = session.connection().connection.driver_connection
    assert dbapi is not None
    stored = dbapi.execute("SELECT hi, lo, key_text FROM rxtrace_batch_keys ORDER BY rowid").fetchall()
    assert stored == sorted((*key_parts(k), k) for k in keys)
    assert stored[0][0] < 0 < stored[-1][0]  # the GS1 keys' halves are negative: they come first
