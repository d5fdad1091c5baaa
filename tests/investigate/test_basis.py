"""The leads' basis is read while it describes the data, and built again as soon as it does not:
new sales, institutions or catalog rows, a load's counted rows, or other shaping parameters."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from rxtrace.trace.investigate import Lead, LeadParams, find_leads
from rxtrace.trace.investigate import basis as lead_basis
from rxtrace.trace.investigate.basis import basis_info, ensure_basis, refresh_basis
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.store import models

from .builders import T0, World


class Builds:
    """Counts the basis builds, letting each happen."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = lead_basis.refresh_basis

        def counted(**kwargs: object) -> lead_basis.BasisInfo:
            self.count += 1
            return real(**kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(lead_basis, "refresh_basis", counted)


def ids(leads: list[Lead]) -> set[tuple[str, str]]:
    return {(lead.kind, lead.id) for lead in leads}


def _world(session: Session) -> World:
    w = World(session)
    w.drug("8200001", "XA", 7)
    w.honest_background(pharmacies=4, sales_each=30, cards=60)
    w.institution("A", "pharmacy")
    w.institution("B", "pharmacy")
    w.commit()
    return w


def test_the_basis_is_kept_until_the_data_grows(
    any_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = Builds(monkeypatch)
    w = _world(any_session)
    first = find_leads(session=any_session)
    assert builds.count == 1
    info = basis_info(session=any_session)
    assert info is not None and info.params["window_days"] == 30
    assert find_leads(session=any_session) == first
    assert find_leads(session=any_session, kind="card") is not None
    assert builds.count == 1, "a basis that still describes the data is read, not rebuilt"

    # A box sold twice: the new sales must reach the leads, through a rebuilt basis.
    code = w.new_code("8200001")
    w.sale(inst="A", card="C1", code=code, med="XA", at=T0)
    w.sale(inst="B", card="C2", code=code, med="XA", at=T0 + timedelta(days=5))
    w.commit()
    code_key = f"{code}"
    after = find_leads(session=any_session, kind="code")
    assert builds.count == 2
    assert ("code", code_key) in ids(after) and ("code", code_key) not in ids(first)

    # Seizures shape no basis: only which entities are looked at.
    w.seize("Z1", "K1", [code])
    w.commit()
    find_leads(session=any_session, case_id="K1")
    assert builds.count == 2

    w.institution("C", "clinic")
    w.commit()
    find_leads(session=any_session, kind="institution")
    assert builds.count == 3
    w.drug("8200002", "XB", 30)
    w.commit()
    find_leads(session=any_session, kind="code")
    assert builds.count == 4


def test_other_shaping_parameters_rebuild_it(any_session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = Builds(monkeypatch)
    _world(any_session)
    ensure_basis(session=any_session, params=LeadParams())
    # Weights and gates only score what the basis holds: the same basis serves them.
    find_leads(session=any_session, params=LeadParams(w_resold=5.0, min_surprise=3.0))
    assert builds.count == 1
    find_leads(session=any_session, params=LeadParams(window_days=10))
    assert builds.count == 2
    info = basis_info(session=any_session)
    assert info is not None and info.params["window_days"] == 10
    ensure_basis(session=any_session, params=LeadParams())
    assert builds.count == 3


def test_a_load_counting_rows_makes_it_stale(any_session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # On PostgreSQL a load may commit rows with lower ids than those already read: the loads'
    # own counts tell the basis the data moved.
    builds = Builds(monkeypatch)
    _world(any_session)
    ensure_basis(session=any_session, params=LeadParams())
    any_session.add(
        models.LoadedFile(
            sha256="f" * 64,
            path="x.csv",
            size_bytes=1,
            table_name="dispensing",
            status="loading",
            rows_taken=3,
            started_at=datetime(2026, 1, 1),
        )
    )
    any_session.commit()
    ensure_basis(session=any_session, params=LeadParams())
    assert builds.count == 2


def test_an_unreadable_or_older_description_means_no_basis(session: Session) -> None:
    _world(session)
    ensure_basis(session=session, params=LeadParams())
    assert basis_info(session=session) is not None
    stored = session.get(models.Meta, "lead_basis")
    assert stored is not None
    stored.value = stored.value.replace(f'"version": {lead_basis._VERSION}', '"version": 0')
    assert basis_info(session=session) is None
    stored.value = "not json"
    assert basis_info(session=session) is None


def test_sqlite_builds_it_in_a_file_and_hands_the_connection_back_in_memory(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(session)  # committed: the build starts outside a transaction, as in `rxtrace load`
    real = lead_basis._count_side
    seen: list[int] = []

    def watched(sql: Sql, params: LeadParams) -> lead_basis._Part:
        seen.append(sql.session.execute(text("PRAGMA temp_store")).scalar_one())
        return real(sql, params)

    monkeypatch.setattr(lead_basis, "_count_side", watched)
    refresh_basis(session=session)
    # 1 = FILE: temporary tables and sorts that grow with the sales stay out of memory.
    assert seen == [1]
    session.commit()
    session.close()
    engine = session.get_bind().engine
    with engine.connect() as conn:  # the same pooled connection, back in memory (2)
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2


def _basis_rows(session: Session) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: sorted(tuple(r) for r in session.execute(text(f"SELECT * FROM {table}")))
        for table in (
            "lead_basis_code",
            "lead_basis_institution",
            "lead_basis_window",
            "lead_basis_card",
            "lead_basis_doctor",
        )
    }


def test_built_on_three_connections_it_is_the_same_basis(any_session: Session) -> None:
    w = _world(any_session)
    w.institution("C", "clinic")
    code = w.new_code("8200001")
    for i, inst in enumerate(("A", "B", "C")):
        w.sale(
            inst=inst, card="C1", code=w.new_code("8200001"), med="XA", at=T0 + timedelta(days=i), dr="DOC1"
        )
    w.sale(inst="A", card="C2", code=code, med="XA", at=T0, dr="DOC2")
    w.sale(inst="B", card="C3", code=code, med="XA", at=T0 + timedelta(days=3))
    w.commit()
    # Shared first, on empty tables: nothing an earlier build left can stand in for its rows.
    refresh_basis(session=any_session, parallel=True)
    shared = _basis_rows(any_session)
    any_session.commit()
    refresh_basis(session=any_session)
    alone = _basis_rows(any_session)
    assert all(shared.values()), "every basis table has rows in this world"
    assert shared == alone


def test_pending_writes_keep_the_build_on_the_callers_connection(session: Session) -> None:
    # Other connections would not see the uncommitted sale; SQLite then builds it alone.
    w = _world(session)
    code = w.new_code("8200001")
    w.sale(inst="A", card="C1", code=code, med="XA", at=T0)
    w.sale(inst="B", card="C2", code=code, med="XA", at=T0 + timedelta(days=5))
    session.flush()
    refresh_basis(session=session, parallel=True)
    rows = _basis_rows(session)
    assert len(rows["lead_basis_code"]) == 1
    assert {"A", "B"} <= {r[0] for r in rows["lead_basis_institution"]}


def _second_session(session: Session) -> Session:
    return Session(session.get_bind().engine, expire_on_commit=False)


def test_a_build_waits_for_another_and_then_finds_it_current(
    any_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two loads ending together: the second builder waits for the first's build and commit,
    # then reads the basis it left instead of building again (PostgreSQL failed on a
    # duplicate key replacing the first's rows, SQLite on its locked database).
    _world(any_session)
    any_session.commit()
    builds = Builds(monkeypatch)
    other = _second_session(any_session)
    real = lead_basis._count_side
    pool = ThreadPoolExecutor(1)
    waiting: list[Future[lead_basis.BasisInfo]] = []

    def second_starts_meanwhile(sql: Sql, params: LeadParams) -> lead_basis._Part:
        if not waiting:
            waiting.append(pool.submit(ensure_basis, session=other, params=LeadParams()))
            time.sleep(0.5)  # the second builder asks for its turn during this build
        return real(sql, params)

    monkeypatch.setattr(lead_basis, "_count_side", second_starts_meanwhile)
    first = ensure_basis(session=any_session, params=LeadParams(), parallel=True)
    any_session.commit()
    second = waiting[0].result(timeout=60)
    other.commit()
    other.close()
    pool.shutdown()
    assert second == first
    assert builds.count == 1


def test_a_write_committed_during_the_build_does_not_fail_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite cannot turn a read snapshot into a write once another process has committed
    # since: the build must write from a fresh transaction, not fail "database is locked".
    w = _world(session)
    session.commit()
    real = lead_basis._count_side

    def with_a_load_beside(sql: Sql, params: LeadParams) -> lead_basis._Part:
        part = real(sql, params)
        with _second_session(session) as beside:
            beside.add(models.Meta(name="written-beside", value="1"))
            beside.commit()
        return part

    monkeypatch.setattr(lead_basis, "_count_side", with_a_load_beside)
    w.sale(inst="A", card="C9", code=w.new_code("8200001"), med="XA", at=T0)
    session.commit()
    info = ensure_basis(session=session, params=LeadParams(), parallel=True)
    session.commit()
    assert basis_info(session=session) == info
    assert session.get(models.Meta, "written-beside") is not None
