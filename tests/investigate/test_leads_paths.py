"""The code rules' one-pass search must miss no code: each way a code can be flagged, alone on
one sale row or over several, on both engines; both engines find the very same leads; and the
cards read ahead give the leads that reading each card alone gives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.trace.codes import key_parts
from rxtrace.trace.demo.planted import plant_world
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.investigate import Lead, LeadParams, find_leads, findings
from rxtrace.trace.investigate import leads as leads_module
from rxtrace.trace.investigate.basis import NEEDS, build_basis
from rxtrace.trace.investigate.leads import run_rules
from rxtrace.trace.investigate.params import KINDS
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.protect import Protector
from rxtrace.trace.store import models

from .builders import T0, World
from .wording import assert_worded


def rules_of(leads: list[Lead], kind: str, ident: str) -> set[str]:
    return {r.rule for lead in leads if lead.kind == kind and lead.id == ident for r in lead.rules}


def hit_of(leads: list[Lead], ident: str, rule: str) -> Any:
    return next(
        r for lead in leads if lead.kind == "code" and lead.id == ident for r in lead.rules if r.rule == rule
    )


def test_each_single_row_path_and_the_first_drugs_box_size(any_session: Session) -> None:
    w = World(any_session)
    w.drug("8300001", "XA", 7)
    w.drug("8300002", "XB", 30)
    # Catalog ids a code's first seven digits can never name: skipped, never an error.
    w.drug("0830003", "XZ", 7)
    w.drug("ABC", "XQ", 7)
    w.institution("A")
    w.institution("B")
    beyond = w.new_code("8300001")  # one split sale of more units than the box holds
    w.sale(inst="A", card="C1", code=beyond, med="XA", at=T0, count=9, split=True, fen=900)
    double = w.new_code("8300001")  # two whole boxes on one row: flagged, but no resale
    w.sale(inst="A", card="C2", code=double, med="XA", at=T0, count=2)
    wrong = w.new_code("8300001")  # one sale naming another drug than its product's
    w.sale(inst="B", card="C3", code=wrong, med="XB", at=T0)
    unknown = w.new_code("8399999")  # a product the catalog does not know: nothing to check
    w.sale(inst="B", card="C4", code=unknown, med="XB", at=T0)
    # Two drugs with different box sizes: the first drug's (XA, 7 a box) decides resales.
    mixed = w.new_code("8300002")
    w.sale(inst="A", card="C5", code=mixed, med="XB", at=T0, count=20, split=True, fen=500)
    w.sale(inst="B", card="C6", code=mixed, med="XA", at=T0 + timedelta(days=1), count=5, split=True, fen=500)
    # Flagged only by the seized box: one ordinary split sale, a box printed with another drug.
    printed = w.new_code("8300002")
    w.sale(inst="A", card="C7", code=printed, med="XB", at=T0, count=3, split=True, fen=300)
    w.seize("Z1", "K1", [printed], box_med={printed: "XA"})
    honest = w.new_code("8300002")
    w.sale(inst="A", card="C8", code=honest, med="XB", at=T0, count=3, split=True, fen=300)
    w.commit()
    leads = find_leads(session=any_session, kind="code")

    resold = hit_of(leads, beyond, "resold")
    assert resold.evidence["split_units"] == 9 and resold.evidence["resales"] == 1
    assert not rules_of(leads, "code", double)
    assert "cloned" in rules_of(leads, "code", wrong)
    assert "product identifier" in hit_of(leads, wrong, "cloned").detail
    assert not rules_of(leads, "code", unknown)
    assert hit_of(leads, mixed, "resold").evidence["units_per_box"] == 7
    assert hit_of(leads, mixed, "cloned").evidence["drugs"] == ["XA", "XB"]
    assert hit_of(leads, printed, "cloned").evidence["box_med_list_codg"] == "XA"
    assert "resold" not in rules_of(leads, "code", printed)
    assert not rules_of(leads, "code", honest)


def test_gs1_codes_resold_and_never_checked_against_a_product(any_session: Session) -> None:
    w = World(any_session)
    w.drug("8300001", "XA", 7)
    w.institution("A")
    w.institution("B")
    gs1 = "(01)06901234567892(21)SER001"
    assert key_parts("010690123456789221SER001")[0] < 0
    w.sale(inst="A", card="C1", code=gs1, med="XA", at=T0)
    w.sale(inst="B", card="C2", code=gs1, med="XA", at=T0 + timedelta(days=3))
    other = "(01)06901234567892(21)SER002"
    w.sale(inst="A", card="C3", code=other, med="XZ", at=T0)
    w.commit()
    leads = find_leads(session=any_session, kind="code")
    assert [lead.id for lead in leads if "resold" in {r.rule for r in lead.rules}] == [
        "010690123456789221SER001"
    ]
    assert not any(lead.id == "010690123456789221SER002" for lead in leads)


def _mixed_world(session: Session) -> None:
    """A little of everything: trade, split packs, returns, self-paid sales, resales, clones,
    a phantom clinic, a card shopping around, and a case of seized boxes."""
    w = World(session, seed=11)
    meds = {f"XM{i}": (f"870000{i}", (7, 14, 28, 30, 100)[i % 5]) for i in range(6)}
    for med, (product, units) in meds.items():
        w.drug(product, med, units)
    insts = [w.institution(f"I{i:02d}", ("hospital", "clinic", "pharmacy")[i % 3]) for i in range(12)]
    sold: list[tuple[str, str]] = []
    for _ in range(1500):
        med = w.rng.choice(sorted(meds))
        code = w.new_code(meds[med][0])
        split = w.rng.random() < 0.1
        at = T0 + timedelta(minutes=w.rng.randrange(0, 200 * 24 * 60))
        inst = w.rng.choice(insts)
        w.sale(
            inst=inst,
            card=f"P{w.rng.randrange(300):04d}",
            code=code,
            med=med,
            at=at,
            count=w.rng.randint(1, 4) if split else 1,
            split=split,
            self_paid=w.rng.random() < 0.02,
            dr=f"D{inst}{w.rng.randrange(3)}",
        )
        if w.rng.random() < 0.01:
            w.sale(
                inst=inst,
                card=f"P{w.rng.randrange(300):04d}",
                code=code,
                med=med,
                at=at + timedelta(hours=3),
                ret=True,
            )
        sold.append((code, med))
    for code, med in sold[:40:4]:  # resold boxes
        w.sale(inst="I05", card=f"R{code[-3:]}", code=code, med=med, at=T0 + timedelta(days=210))
    for code, _ in sold[1:30:7]:  # cloned: the same code on another drug
        w.sale(inst="I07", card="CL", code=code, med="XM5", at=T0 + timedelta(days=220))
    for i in range(30):  # a phantom clinic: same basket, minutes apart, no visit number
        for med in ("XM0", "XM1", "XM2"):
            w.sale(
                inst="I04",
                card=f"PH{i}",
                code=w.new_code(meds[med][0]),
                med=med,
                at=T0 + timedelta(days=90, seconds=50 * i),
                setl_id=f"PH{i:03d}",
                sn=None,
            )
    for i, inst in enumerate(insts[:6]):  # one card collecting the same drug everywhere
        w.sale(
            inst=inst,
            card="SHOP",
            code=w.new_code(meds["XM3"][0]),
            med="XM3",
            at=T0 + timedelta(days=100 + i),
            count=3,
        )
    w.seize("Z1", "K1", [code for code, _ in sold[::37]], box_med={sold[37][0]: "XM5"})
    w.commit()


@pytest.fixture
def pg_session(pg_engine: Engine) -> Iterator[Session]:
    with sessionmaker(pg_engine, expire_on_commit=False)() as s:
        yield s


@pytest.mark.postgres
def test_both_engines_find_the_same_leads(session: Session, pg_session: Session) -> None:
    found = []
    for s in (session, pg_session):
        _mixed_world(s)
        every, scoped = find_leads(session=s), find_leads(session=s, case_id="K1")
        assert_worded(every + scoped)
        found.append(
            (
                [lead.to_dict(reveal=True) for lead in every],
                [lead.to_dict(reveal=True) for lead in scoped],
            )
        )
    assert found[0] == found[1]
    every_rule = {r["rule"] for lead in found[0][0] for r in lead["rules"]}
    assert {
        "resold",
        "cloned",
        "resold_at",
        "cloned_at",
        "card_seized",
        "cross_institution",
        "oversupply",
        "visit_ids",
        "bunched",
    } <= every_rule


def test_the_cards_read_ahead_give_the_leads_of_every_card_read_alone(
    any_session: Session, tmp_path: Path, protector: Protector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules' card reads come from the rows read ahead in one pass (``fill_carded``): the
    same leads, evidence and names as reading each card from the sales; only names are read
    for cards outside them."""
    truth = plant_world(tmp_path / "world", strength=1.0, persons=400)
    load_paths([Path(p) for p in truth.files + truth.seizure_files], session=any_session, protector=protector)
    # Two masked names per card: a lead is named by the first in order, from any of its rows.
    any_session.execute(
        text("UPDATE dispensing SET psn_name_masked = CASE WHEN id % 2 = 0 THEN 'N ' ELSE 'M ' END || psn_no")
    )
    any_session.commit()
    read: dict[str, set[str]] = {findings.CARDED: set(), "dispensing": set()}
    sources = findings._card_sources

    def spied(sql: Any, cards: Any) -> list[tuple[str, list[str]]]:
        chosen = sources(sql, cards)
        for relation, some in chosen:
            read[relation].update(some)
        return chosen

    monkeypatch.setattr(findings, "_card_sources", spied)
    ahead = find_leads(session=any_session)
    ahead_of = {kind: find_leads(session=any_session, kind=kind) for kind in KINDS}
    cards = {lead.id: {r.rule for r in lead.rules} for lead in ahead if lead.kind == "card"}
    assert {
        "card_seized",
        "cross_institution",
        "small_visits",
        "card_turns",
        "co_visits",
        "no_treatment",
    } <= {rule for rules in cards.values() for rule in rules}
    # Read alone, for their names only: cards on resold boxes, cards billed at an institution
    # whose fund share fired.
    assert read[findings.CARDED] and read["dispensing"] <= {
        c for c, rules in cards.items() if rules & {"resold_card", "fund_share_billed"}
    }
    first: dict[str, str] = dict(
        any_session.execute(text("SELECT psn_no, MIN(psn_name_masked) FROM dispensing GROUP BY psn_no")).all()
    )
    assert all(lead.name == first[lead.id] for lead in ahead if lead.kind == "card")

    monkeypatch.setattr(leads_module, "fill_carded", lambda *args, **kwargs: None)
    read[findings.CARDED].clear()
    alone = find_leads(session=any_session)
    # Each kind asked alone reads ahead only what its rules read: the same leads too.
    assert {kind: find_leads(session=any_session, kind=kind) for kind in KINDS} == ahead_of
    assert not read[findings.CARDED]
    assert alone == ahead


def test_each_kind_finds_its_leads_on_only_the_basis_tables_it_needs(
    any_session: Session, tmp_path: Path, protector: Protector
) -> None:
    """``basis.NEEDS`` names every basis table a kind's rules read: a run for one kind on a
    basis of only those (the others dropped, so a read of one fails) finds the same leads as
    on the whole basis. Spark builds only those for a run of one kind."""
    truth = plant_world(tmp_path / "world", strength=1.0, persons=400)
    load_paths([Path(p) for p in truth.files + truth.seizure_files], session=any_session, protector=protector)
    any_session.commit()
    params = LeadParams()
    whole = {kind: find_leads(session=any_session, kind=kind, params=params) for kind in KINDS}
    assert all(whole.values())
    any_session.commit()
    every_table = set().union(*NEEDS.values())
    assert every_table == {t for t in models.Base.metadata.tables if t.startswith("lead_basis_")}
    for kind in KINDS:
        for table in sorted(every_table):
            any_session.execute(text(f"DELETE FROM {table}"))  # begins SQLite's transaction
        for table in sorted(every_table - NEEDS[kind]):
            any_session.execute(text(f"DROP TABLE {table}"))
        build_basis(Sql(any_session), params, kinds=[kind])
        assert run_rules(Sql(any_session), kind=kind, case_id=None, params=params) == whole[kind], kind
        any_session.rollback()  # the tables back, with the whole basis
    assert {kind: find_leads(session=any_session, kind=kind, params=params) for kind in KINDS} == whole
