"""Each lead rule on small worlds where it must fire, and where it must not."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from rxtrace.trace.errors import NotFoundError, RxtraceError
from rxtrace.trace.investigate import Lead, LeadParams, find_leads, poisson_surprise, rate_test
from rxtrace.trace.protect import mask_id

from .builders import T0, World
from .wording import assert_worded


def rules_of(leads: list[Lead], kind: str, ident: str) -> set[str]:
    return {r.rule for lead in leads if lead.kind == kind and lead.id == ident for r in lead.rules}


def lead_of(leads: list[Lead], kind: str, ident: str) -> Lead:
    return next(lead for lead in leads if lead.kind == kind and lead.id == ident)


# --- statistics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "lam"), [(1, 0.01), (3, 0.5), (10, 2.0), (50, 40.0), (5, 20.0), (400, 300.0), (2, 1e-6)]
)
def test_poisson_surprise_matches_the_exact_tail(k: int, lam: float) -> None:
    exact = -math.log10(
        sum(math.exp(-lam + j * math.log(lam) - math.lgamma(j + 1)) for j in range(k, k + 2000))
    )
    assert poisson_surprise(k, lam) == pytest.approx(exact, rel=1e-6, abs=1e-9)


def test_shrinkage_holds_back_thin_evidence_and_size_alone_is_no_excess() -> None:
    one_box = rate_test(1, 5, 0.001)
    assert one_box.relative_risk < 1.6
    big_at_peer_rate = rate_test(10_000, 1_000_000, 0.01)
    assert big_at_peer_rate.relative_risk == pytest.approx(1.0, abs=1e-3)
    assert big_at_peer_rate.surprise < 1


# --- resold boxes ----------------------------------------------------------------------------


def _resale_world(session: Session) -> tuple[World, list[str]]:
    w = World(session)
    w.drug("8200001", "XA", 7)
    w.honest_background()
    w.institution("HONEST", "pharmacy")
    w.institution("RESELL", "pharmacy")
    codes = []
    for i in range(4):
        code = w.new_code("8200001")
        codes.append(code)
        w.sale(inst="HONEST", card=f"RENT{i}", code=code, med="XA", at=T0 + timedelta(days=i))
        w.sale(inst="RESELL", card=f"PHANTOM{i}", code=code, med="XA", at=T0 + timedelta(days=30 + i))
    for i in range(20):
        w.sale(
            inst="RESELL",
            card=f"OTHER{i}",
            code=w.new_code("8200001"),
            med="XA",
            at=T0 + timedelta(days=40 + i),
        )
    w.commit()
    return w, codes


def test_resold_box_fires_for_code_later_seller_and_cards(any_session: Session) -> None:
    _, codes = _resale_world(any_session)
    leads = find_leads(session=any_session)
    for code in codes:
        assert "resold" in rules_of(leads, "code", code)
    assert "resold_at" in rules_of(leads, "institution", "RESELL")
    # The first sale was a sale like any other: the reseller is the one that sold a used box.
    assert "resold_at" not in rules_of(leads, "institution", "HONEST")
    hit = next(r for r in lead_of(leads, "code", codes[0]).rules if r.rule == "resold")
    assert hit.evidence["net_boxes"] == 2
    assert set(hit.evidence["institutions"]) == {"RESELL"}
    assert len(hit.evidence["setl_ids"]) == 2


def test_sale_return_resale_and_self_paid_are_not_resold(session: Session) -> None:
    w = World(session)
    w.drug("8200001", "XA", 7)
    w.institution("A")
    w.institution("B")
    returned = w.new_code("8200001")
    w.sale(inst="A", card="C1", code=returned, med="XA", at=T0)
    w.sale(inst="A", card="C1", code=returned, med="XA", at=T0 + timedelta(hours=2), ret=True)
    w.sale(inst="B", card="C2", code=returned, med="XA", at=T0 + timedelta(days=3))
    self_paid = w.new_code("8200001")
    w.sale(inst="A", card="C3", code=self_paid, med="XA", at=T0, self_paid=True)
    w.sale(inst="B", card="C4", code=self_paid, med="XA", at=T0 + timedelta(days=1))
    w.commit()
    leads = find_leads(session=session)
    assert "resold" not in rules_of(leads, "code", returned)
    assert "resold" not in rules_of(leads, "code", self_paid)
    assert not rules_of(leads, "institution", "B")


def test_a_sale_uploaded_twice_is_not_a_resale(any_session: Session) -> None:
    # Counter programs send a code again when a settlement is retried: the same institution,
    # the same order, minutes apart. That is one sale, not a resold box.
    w = World(any_session)
    w.drug("8200001", "XA", 7)
    for inst in ("COUNTER", "RESELL", "B"):
        w.institution(inst)
    twice = w.new_code("8200001")
    setl = w.sale(inst="COUNTER", card="C1", code=twice, med="XA", at=T0)
    w.sale(inst="COUNTER", card="C1", code=twice, med="XA", at=T0 + timedelta(minutes=3), setl_id=setl)
    rx = w.new_code("8200001")
    w.sale(inst="COUNTER", card="C2", code=rx, med="XA", at=T0, rxno="RX1")
    w.sale(inst="COUNTER", card="C2", code=rx, med="XA", at=T0 + timedelta(minutes=2), rxno="RX1")
    # Uploaded twice, then truly resold elsewhere a month on.
    resold = w.new_code("8200001")
    first = w.sale(inst="COUNTER", card="C3", code=resold, med="XA", at=T0)
    w.sale(inst="COUNTER", card="C3", code=resold, med="XA", at=T0 + timedelta(minutes=1), setl_id=first)
    w.sale(inst="RESELL", card="C4", code=resold, med="XA", at=T0 + timedelta(days=30))
    # The same card at the same counter hours later: a second sale of the box.
    again = w.new_code("8200001")
    w.sale(inst="B", card="C5", code=again, med="XA", at=T0)
    w.sale(inst="B", card="C5", code=again, med="XA", at=T0 + timedelta(hours=3))
    w.commit()
    leads = find_leads(session=any_session)
    assert not rules_of(leads, "code", twice)
    assert not rules_of(leads, "code", rx)
    assert "resold_at" not in rules_of(leads, "institution", "COUNTER")
    hit = next(r for r in lead_of(leads, "code", resold).rules if r.rule == "resold")
    assert hit.evidence["net_boxes"] == 2
    assert hit.evidence["repeat_uploads"] == [first]
    assert set(hit.evidence["institutions"]) == {"RESELL"}
    assert "resold" in rules_of(leads, "code", again)


def test_split_packs_fire_only_beyond_one_box(session: Session) -> None:
    w = World(session)
    w.drug("8200002", "XS", 7)
    w.institution("A")
    fits, beyond = w.new_code("8200002"), w.new_code("8200002")
    for i, units in enumerate((2, 2, 3)):
        w.sale(
            inst="A",
            card=f"C{i}",
            code=fits,
            med="XS",
            at=T0 + timedelta(days=i),
            count=units,
            split=True,
            fen=300,
        )
    for i, units in enumerate((3, 3, 3)):
        w.sale(
            inst="A",
            card=f"D{i}",
            code=beyond,
            med="XS",
            at=T0 + timedelta(days=i),
            count=units,
            split=True,
            fen=300,
        )
    w.commit()
    leads = find_leads(session=session, kind="code")
    assert "resold" not in rules_of(leads, "code", fits)
    hit = next(r for r in lead_of(leads, "code", beyond).rules if r.rule == "resold")
    assert hit.evidence["split_units"] == 9 and hit.evidence["resales"] == 1


# --- cloned codes ----------------------------------------------------------------------------


def test_cloned_code_three_ways(any_session: Session) -> None:
    w = World(any_session)
    w.drug("8300001", "XC1", 7)
    w.drug("8300002", "XC2", 7)
    w.institution("A")
    w.institution("CLONER")
    two_drugs = w.new_code("8300001")
    w.sale(inst="A", card="C1", code=two_drugs, med="XC1", at=T0)
    w.sale(inst="A", card="C1b", code=two_drugs, med="XC1", at=T0 + timedelta(days=1))
    w.sale(inst="CLONER", card="C2", code=two_drugs, med="XC2", at=T0 + timedelta(days=2))
    wrong_product = w.new_code("8300001")  # its product says XC1, the sale says XC2
    w.sale(inst="CLONER", card="C3", code=wrong_product, med="XC2", at=T0)
    printed = w.new_code("8300001")
    w.sale(inst="A", card="C4", code=printed, med="XC1", at=T0)
    honest = w.new_code("8300001")
    w.sale(inst="A", card="C5", code=honest, med="XC1", at=T0)
    w.seize("Z1", "K1", [printed, honest], box_med={printed: "XC2", honest: "XC1"})
    w.commit()
    leads = find_leads(session=any_session, kind="code")
    two = next(r for r in lead_of(leads, "code", two_drugs).rules if r.rule == "cloned")
    assert two.evidence["institutions"] == ["CLONER"]  # the minority drug's seller
    assert "cloned" in rules_of(leads, "code", wrong_product)
    box = next(r for r in lead_of(leads, "code", printed).rules if r.rule == "cloned")
    assert box.evidence["box_med_list_codg"] == "XC2"
    assert not rules_of(leads, "code", honest)


# --- cards -----------------------------------------------------------------------------------


def test_card_with_seized_boxes_carries_boxes_fund_seizures_institutions(session: Session) -> None:
    w = World(session)
    w.drug("8400001", "XD", 7)
    w.institution("A")
    w.institution("B")
    codes = [w.new_code("8400001") for _ in range(5)]
    for i, code in enumerate(codes):
        w.sale(
            inst="A" if i < 3 else "B",
            card="RENTED",
            code=code,
            med="XD",
            at=T0 + timedelta(days=i * 3),
            fen=1234,
        )
    w.sale(inst="A", card="INNOCENT", code=w.new_code("8400001"), med="XD", at=T0)
    w.seize("Z1", "K1", codes[:3])
    w.seize("Z2", "K1", codes[3:])
    w.commit()
    lead = lead_of(find_leads(session=session, kind="card"), "card", "RENTED")
    hit = next(r for r in lead.rules if r.rule == "card_seized")
    assert hit.evidence["boxes"] == 5
    assert hit.evidence["fund_yuan"] == "61.70"
    assert hit.evidence["seizures"] == ["Z1", "Z2"]
    assert hit.evidence["institutions"] == ["A", "B"]
    assert not rules_of(find_leads(session=session, kind="card"), "card", "INNOCENT")
    assert lead.to_dict()["id"] == mask_id("RENTED") != "RENTED"
    assert lead.to_dict(reveal=True)["id"] == "RENTED"


def test_cross_institution_and_oversupply(any_session: Session) -> None:
    w = World(any_session)
    w.drug("8500001", "XE", 30)  # 30 tablets a box
    w.drug("8500002", "XL", 30)
    insts = [w.institution(f"P{i}") for i in range(5)]
    for i, inst in enumerate(insts):  # five pharmacies, two boxes each, in ten days
        for j in range(2):
            w.sale(
                inst=inst,
                card="SHOPPER",
                code=w.new_code("8500001"),
                med="XE",
                at=T0 + timedelta(days=2 * i, hours=j),
            )
    for month in range(12):  # an honest chronic patient: one box a month, one pharmacy
        w.sale(
            inst="P0",
            card="CHRONIC",
            code=w.new_code("8500001"),
            med="XE",
            at=T0 + timedelta(days=30 * month),
        )
    # A long prescription (12 weeks) at one hospital: a lot at once, but one institution.
    for _ in range(4):
        w.sale(inst="P1", card="LONGRX", code=w.new_code("8500002"), med="XL", at=T0, count=1)
    w.commit()
    leads = find_leads(session=any_session, kind="card")
    shopper = lead_of(leads, "card", "SHOPPER")
    assert {"cross_institution", "oversupply"} <= {r.rule for r in shopper.rules}
    assert_worded([shopper])
    cross = next(r for r in shopper.rules if r.rule == "cross_institution")
    assert cross.evidence["institutions"] >= 3
    assert not rules_of(leads, "card", "CHRONIC")
    assert not rules_of(leads, "card", "LONGRX")


# --- institutions and doctors ----------------------------------------------------------------


def _seized_share_world(session: Session) -> World:
    w = World(session)
    w.drug("8100001", "XBG", 7)
    seized: list[str] = []
    w.institution("BIGHOSP", "hospital")
    for i in range(1500):
        code = w.new_code("8100001")
        w.sale(
            inst="BIGHOSP",
            card=f"H{i % 700}",
            code=code,
            med="XBG",
            at=T0 + timedelta(minutes=17 * i),
            dr=f"DH{w.rng.randrange(10)}",
        )
        if i % 150 == 0:  # 10 of 1500: the city's usual leakage
            seized.append(code)
    others = w.honest_background(pharmacies=6, sales_each=100)
    from sqlalchemy import select

    from rxtrace.trace.store import models

    session.flush()
    for inst in others:
        row = session.scalars(
            select(models.Dispensing.drug_trac_codg).where(models.Dispensing.fixmedins_code == inst).limit(1)
        ).first()
        assert row is not None
        seized.append(row)
    w.institution("MILL", "clinic")
    for i in range(30):
        code = w.new_code("8100001")
        w.sale(inst="MILL", card=f"R{i % 6}", code=code, med="XBG", at=T0 + timedelta(days=i), dr="DMILL")
        if i % 3 == 0:
            seized.append(code)
    w.seize("Z1", "K1", seized)
    w.commit()
    return w


def test_seized_share_flags_the_mill_not_the_big_hospital(any_session: Session) -> None:
    _seized_share_world(any_session)
    leads = find_leads(session=any_session)
    assert "seized_share" in rules_of(leads, "institution", "MILL")
    assert "seized_share" not in rules_of(leads, "institution", "BIGHOSP")
    assert "seized_share" in rules_of(leads, "doctor", "DMILL")
    assert not any(lead.kind == "doctor" and lead.id.startswith("DH") for lead in leads)
    hit = next(r for r in lead_of(leads, "institution", "MILL").rules if r.rule == "seized_share")
    assert hit.evidence["observed"] == 10 and hit.evidence["relative_risk"] > 2


def test_doctor_prescribing_for_the_seized_cards(session: Session) -> None:
    w = World(session)
    w.drug("8100001", "XBG", 7)
    w.honest_background(pharmacies=6, sales_each=80)
    w.institution("CLINIC", "clinic")
    rented = [f"RENT{i}" for i in range(5)]
    seized = []
    for i, card in enumerate(rented):
        for j in range(8):
            code = w.new_code("8100001")
            w.sale(
                inst="CLINIC", card=card, code=code, med="XBG", at=T0 + timedelta(days=i * 10 + j), dr="DRX"
            )
            if j == 0:
                seized.append(code)
    for i in range(20):
        w.sale(
            inst="CLINIC",
            card=f"PAT{i}",
            code=w.new_code("8100001"),
            med="XBG",
            at=T0 + timedelta(days=i),
            dr="DOK",
        )
    w.seize("Z1", "K1", seized)
    w.commit()
    leads = find_leads(session=session, kind="doctor")
    assert "seized_cards" in rules_of(leads, "doctor", "DRX")
    assert not rules_of(leads, "doctor", "DOK")


def _phantom_world(session: Session, *, phantom: bool) -> World:
    w = World(session)
    products = {f"XP{i}": f"860000{i}" for i in range(1, 9)}
    for med, product in products.items():
        w.drug(product, med, 7)
    # A big honest hospital: patients arrive at random, 40 s apart on average, with one or two
    # of eight drugs each.
    w.institution("HOSP", "hospital")
    at = T0
    for i in range(2500):
        at += timedelta(seconds=w.rng.expovariate(1 / 40))
        setl = f"H{i:06d}"
        card = f"HC{w.rng.randrange(1500)}"
        first, second = w.rng.sample(sorted(products), 2)
        w.sale(inst="HOSP", card=card, code=w.new_code(products[first]), med=first, at=at, setl_id=setl)
        if w.rng.random() < 0.3:
            w.sale(inst="HOSP", card=card, code=w.new_code(products[second]), med=second, at=at, setl_id=setl)
    w.honest_background(pharmacies=6, sales_each=80, product="8600001", med="XP1", kind="clinic", prefix="C")
    w.institution("PHANTOM", "clinic")
    for i in range(40):  # its ordinary trade: one box of one drug, now and then
        med = w.rng.choice(sorted(products))
        w.sale(
            inst="PHANTOM",
            card=f"PO{i}",
            code=w.new_code(products[med]),
            med=med,
            at=T0 + timedelta(days=i, hours=w.rng.randrange(8)),
        )
    if phantom:  # forty cards billed the same three drugs, 45 s apart, no visit number
        for i in range(40):
            card, at, setl = f"PC{i}", T0 + timedelta(days=50, seconds=45 * i), f"PH{i:04d}"
            for med, product in list(products.items())[:3]:
                w.sale(
                    inst="PHANTOM",
                    card=card,
                    code=w.new_code(product),
                    med=med,
                    at=at,
                    setl_id=setl,
                    sn=None,
                    count=2,
                )
    w.commit()
    return w


SHAPE_RULES = {"visit_ids", "modal_basket", "bunched", "boxes_per_card"}


def test_phantom_billing_shape_fires_for_the_phantom_clinic(any_session: Session) -> None:
    _phantom_world(any_session, phantom=True)
    leads = find_leads(session=any_session, kind="institution")
    fired = rules_of(leads, "institution", "PHANTOM")
    assert {"visit_ids", "modal_basket", "bunched", "boxes_per_card"} <= fired
    assert_worded(leads)
    assert not rules_of(leads, "institution", "HOSP") & SHAPE_RULES


def test_no_shape_rule_for_ordinary_trade(session: Session) -> None:
    _phantom_world(session, phantom=False)
    leads = find_leads(session=session, kind="institution")
    assert not any(rules_of(leads, "institution", i) & SHAPE_RULES for i in ("PHANTOM", "HOSP"))


# --- scope, explanation, errors --------------------------------------------------------------


def test_case_scope_and_explained_scores(session: Session) -> None:
    w = World(session)
    w.drug("8400001", "XD", 7)
    w.institution("A")
    mine, other = w.new_code("8400001"), w.new_code("8400001")
    w.sale(inst="A", card="MINE", code=mine, med="XD", at=T0)
    w.sale(inst="A", card="OTHER", code=other, med="XD", at=T0)
    w.seize("Z1", "K1", [mine])
    w.seize("Z2", "K2", [other])
    w.commit()
    scoped = find_leads(session=session, case_id="K1", kind="card")
    assert [lead.id for lead in scoped] == ["MINE"]
    for lead in find_leads(session=session):
        assert lead.score == pytest.approx(sum(r.contribution for r in lead.rules), abs=1e-3)
        assert all(r.detail for r in lead.rules)
    with pytest.raises(NotFoundError):
        find_leads(session=session, case_id="NOPE")
    with pytest.raises(RxtraceError):
        find_leads(session=session, kind="pharmacist")


def test_fund_share_far_above_peers_is_a_lead_before_any_seizure(any_session: Session) -> None:
    # The insurance bureau's screen: an institution whose fund paid nearly all of what it
    # billed, where its peers' fund pays about three quarters. A big hospital at the usual
    # share is no lead, nor is a tiny one with too little billed to judge.
    w = World(any_session)
    w.drug("8200001", "XA", 7)
    price = 300_000  # 30.00 yuan, in ten-thousandths
    sellers = {f"P{i}": (20, 2200 + 20 * i) for i in range(8)}
    sellers |= {"BIG": (200, 2280), "PHANTOM": (40, 2940), "TINY": (2, 2940)}
    for inst, (sales, fen) in sellers.items():
        w.institution(inst, "pharmacy")
        for i in range(sales):
            at = T0 + timedelta(days=i % 90, minutes=i)
            code = w.new_code("8200001")
            # The phantom biller's forty bills go to ten cards, four each, by one doctor but
            # for the last two (too few bills to judge that doctor's own share).
            phantom_dr = "DPH2" if i >= sales - 2 else "DPH"
            card, dr = (f"PC{i % 10}", phantom_dr) if inst == "PHANTOM" else (f"{inst}-{i % 10}", f"D{inst}")
            w.sale(inst=inst, card=card, code=code, med="XA", at=at, fen=fen, price_e4=price, dr=dr)
    w.commit()
    params = LeadParams(fund_share_min_billed_fen=50_000)  # 500 yuan billed is enough to judge here
    leads = find_leads(session=any_session, params=params)
    # Its cards and its doctors carry the same excess, as weaker evidence of their own; the
    # doctor with enough bills of his own is found by his own share, once.
    assert all("fund_share_billed" in rules_of(leads, "card", f"PC{i}") for i in range(10))
    assert rules_of(leads, "doctor", "DPH") == {"fund_share"}
    assert rules_of(leads, "doctor", "DPH2") == {"fund_share_billed"}
    assert not rules_of(leads, "card", "BIG-0") and not rules_of(leads, "doctor", "DBIG")
    for honest in ("BIG", *(f"P{i}" for i in range(8))):
        assert not rules_of(leads, "doctor", f"D{honest}"), honest
    assert "fund_share" in rules_of(leads, "institution", "PHANTOM")
    for honest in ("BIG", "TINY", *(f"P{i}" for i in range(8))):
        assert "fund_share" not in rules_of(leads, "institution", honest), honest
    hit = next(r for r in lead_of(leads, "institution", "PHANTOM").rules if r.rule == "fund_share")
    assert hit.evidence["fund_percent"] == 98
    assert 73 <= hit.evidence["peers_percent"] <= 78
    assert hit.evidence["billed_yuan"] == 1200.0
    assert "98%" in hit.detail


def test_cards_that_travel_together_are_a_group_with_the_card_that_ties_them(any_session: Session) -> None:
    # A collector takes six rented cards to one pharmacy after another, a trip a week, and
    # hands them over the counter one after another. A household of four fetching its
    # medicine together every month at its pharmacy is no group; cards billed in one sitting
    # at one hospital month after month are the hospital's pattern (a lead from twelve cards
    # a sitting, not nine), not their holders' travel.
    w = World(any_session)
    w.drug("8300001", "XC", 7)
    w.honest_background(pharmacies=4, sales_each=40, cards=150)
    places = [w.institution(f"R{i}") for i in range(3)]
    w.institution("FAM")
    w.institution("H1", "hospital")
    w.institution("H2", "hospital")
    ring = [f"RC{i}" for i in range(6)]
    for week in range(8):
        at = T0 + timedelta(days=7 * week, hours=10)
        for i, card in enumerate(ring):
            if (week + i) % 6 == 5:
                continue  # one card stays home each week: the group is more than one visit's cards
            w.sale(
                inst=places[week % 3],
                card=card,
                code=w.new_code("8300001"),
                med="XC",
                at=at + timedelta(minutes=2 * i),
            )
    for month in range(10):
        at = T0 + timedelta(days=30 * month, hours=16)
        for i in range(4):
            w.sale(
                inst="FAM", card=f"FC{i}", code=w.new_code("8300001"), med="XC", at=at + timedelta(minutes=i)
            )
        for i in range(9):
            w.sale(
                inst="H1",
                card=f"HC{i}",
                code=w.new_code("8300001"),
                med="XC",
                at=at + timedelta(minutes=3 * i),
            )
        for i in range(12):  # twelve cards in a sitting, by two doctors: billed, not treated
            w.sale(
                inst="H2",
                card=f"SC{i}",
                code=w.new_code("8300001"),
                med="XC",
                at=at + timedelta(minutes=2 * i),
                dr=f"DS{i % 2}",
            )
    w.commit()
    everything = find_leads(session=any_session)
    sitting = next(r for r in lead_of(everything, "institution", "H2").rules if r.rule == "sittings")
    assert sitting.evidence["cards_billed"] == 12 and sitting.evidence["days"] == 10
    assert sitting.evidence["doctors"] == ["DS0", "DS1"] and sitting.evidence["top_doctors_share"] == 1.0
    assert len(sitting.evidence["setl_ids"]) == 20
    assert {lead.id for lead in everything if "sittings" in {r.rule for r in lead.rules}} == {"H2"}
    leads = find_leads(session=any_session, kind="card")
    for card in ring:
        hit = next(r for r in lead_of(leads, "card", card).rules if r.rule == "co_visits")
        assert hit.evidence["group_size"] == 6 and hit.evidence["institution_count"] == 3
        assert hit.evidence["card"] in ring  # the one with the most days beside the others
        assert hit.to_dict()["evidence"]["card"] == mask_id(hit.evidence["card"])
        assert len(hit.evidence["setl_ids"]) >= 4
        assert "RC" not in hit.detail  # no card number in the words; the evidence masks them
        assert all(c.startswith("R**") for c in hit.to_dict()["evidence"]["cards"])
    for card in [f"FC{i}" for i in range(4)] + [f"HC{i}" for i in range(9)] + [f"SC{i}" for i in range(12)]:
        assert "co_visits" not in rules_of(leads, "card", card), card


def test_many_small_visits_add_up_over_the_year_where_no_window_shows_them(any_session: Session) -> None:
    # One box every ten days from two pharmacies in turn for ten months: three boxes a window,
    # below any window's plausible dose, three times a card's usual use over the year. A
    # chronic patient fetching a box a month at two pharmacies is a treatment.
    w = World(any_session)
    w.drug("8300002", "XS", 7)
    w.institution("A")
    w.institution("B")
    for i in range(30):  # usual use: a box a month, each card on its own day
        for month in range(10):
            at = T0 + timedelta(days=30 * month + i % 25, hours=8 + i % 9)
            w.sale(inst="AB"[month % 2], card=f"U{i}", code=w.new_code("8300002"), med="XS", at=at)
    for visit in range(30):
        at = T0 + timedelta(days=10 * visit, hours=11)
        w.sale(inst="AB"[visit % 2], card="SMALL", code=w.new_code("8300002"), med="XS", at=at)
    w.commit()
    leads = find_leads(session=any_session, kind="card")
    hit = next(r for r in lead_of(leads, "card", "SMALL").rules if r.rule == "small_visits")
    assert hit.evidence["visits"] == 30 and hit.evidence["institutions"] == 2
    assert hit.evidence["drug"] == "XS" and hit.evidence["ratio"] >= 2
    assert len(hit.evidence["setl_ids"]) == 20  # the evidence limit
    assert rules_of(leads, "card", "SMALL") == {"small_visits"}  # no window shows it
    assert not any(rules_of(leads, "card", f"U{i}") for i in range(30))


def test_a_doctor_billing_cards_in_bursts_is_a_lead(any_session: Session) -> None:
    # Twenty-five cards a morning, a minute apart, once a month, by one doctor; the other
    # doctors see a patient every twenty minutes or more.
    w = World(any_session)
    w.drug("8300003", "XB", 7)
    for inst in ("H1", "H2", "H3"):
        w.institution(inst, "hospital")
        for n in range(3):
            for day in range(60):
                for slot in range(4):
                    at = T0 + timedelta(days=day, hours=8 + 2 * slot, minutes=20 * n)
                    card = f"{inst}-{n}-{(day * 4 + slot) % 97}"
                    w.sale(
                        inst=inst, card=card, code=w.new_code("8300003"), med="XB", at=at, dr=f"D{inst}{n}"
                    )
    for month in range(2):
        for i in range(25):
            at = T0 + timedelta(days=30 * month + 1, hours=7, minutes=i)
            w.sale(inst="H1", card=f"PC{i}", code=w.new_code("8300003"), med="XB", at=at, dr="DBURST")
    w.commit()
    leads = find_leads(session=any_session, kind="doctor")
    hit = next(r for r in lead_of(leads, "doctor", "DBURST").rules if r.rule == "bursts")
    assert hit.evidence["observed"] == 48 and hit.evidence["settlements"] == 50
    assert {lead.id for lead in leads if "bursts" in {r.rule for r in lead.rules}} == {"DBURST"}
