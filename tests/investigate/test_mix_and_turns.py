"""Two leads from sales alone: drug mixes that do not look like a treatment (cards billed month
after month for baskets of unrelated drugs, at an institution where such cards are far more
common than at its peers), and cards taking turns for one drug ("定期轮换用卡"). Each fires on
its pattern and stays silent on its look-alikes, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from rxtrace.trace.investigate import find_leads
from rxtrace.trace.protect import mask_id

from .builders import T0, World
from .test_leads import lead_of, rules_of
from .wording import assert_worded

_DRUGS = [f"XD{i}" for i in range(10)]


def test_baskets_that_are_no_treatment_at_a_phantom_biller(any_session: Session) -> None:
    w = World(any_session)
    for i, med in enumerate(_DRUGS):
        w.drug(f"84000{i:02d}", med, 7, name=f"药品{i}号")
    # Ordinary hospitals: each card a visit or two with one or two drugs.
    for h in range(6):
        inst = w.institution(f"H{h}", "hospital")
        for c in range(40):
            for visit in range(1 + c % 2):
                at = T0 + timedelta(days=w.rng.randrange(300), hours=9)
                for med in w.rng.sample(_DRUGS, 1 + visit):
                    w.sale(inst=inst, card=f"H{h}C{c}", code=w.new_code("8400000"), med=med, at=at)
    # Elderly patients on four chronic drugs, every month at one hospital: a treatment.
    for c in range(10):
        for month in range(12):
            at = T0 + timedelta(days=30 * month + c, hours=10)
            for med in _DRUGS[:4]:
                w.sale(inst="H1", card=f"OLD{c}", code=w.new_code("8400000"), med=med, at=at)
    # A big honest hospital: one card in ten comes back with varied complaints, a basket
    # in four months or more: no more than any hospital's returning patients.
    big = w.institution("BIG", "hospital")
    for c in range(200):
        months = range(5) if c % 10 == 0 else range(1)
        for month in months:
            at = T0 + timedelta(days=30 * month + c % 20, hours=11)
            for med in w.rng.sample(_DRUGS, 2):
                w.sale(inst=big, card=f"BIG{c}", code=w.new_code("8400000"), med=med, at=at)
    # The phantom biller: twenty cards billed every month for six months, a basket of three
    # drugs drawn anew each time; and twenty ordinary patients.
    phantom = w.institution("HP", "hospital")
    for c in range(20):
        for month in range(6):
            at = T0 + timedelta(days=30 * month + 2, hours=8, minutes=c)
            for k in range(3):
                med = _DRUGS[(c + 3 * month + k) % 10]
                w.sale(inst=phantom, card=f"PC{c}", code=w.new_code("8400000"), med=med, at=at, dr="DP")
        at = T0 + timedelta(days=w.rng.randrange(300), hours=14)
        w.sale(inst=phantom, card=f"HPC{c}", code=w.new_code("8400000"), med=_DRUGS[c % 10], at=at)
    w.commit()
    leads = find_leads(session=any_session)
    hit = next(r for r in lead_of(leads, "institution", "HP").rules if r.rule == "no_treatment_at")
    assert hit.evidence["observed"] == 20 and hit.evidence["exposure"] == 40
    assert hit.evidence["kind"] == "hospital" and len(hit.evidence["setl_ids"]) == 20
    assert "药品" in hit.detail  # the drugs by name
    assert [lead.id for lead in leads if "no_treatment_at" in rules_of(leads, lead.kind, lead.id)] == ["HP"]
    for c in range(20):
        mix = next(r for r in lead_of(leads, "card", f"PC{c}").rules if r.rule == "no_treatment")
        assert mix.evidence["institution"] == "HP" and mix.evidence["baskets"] == 6
        assert mix.evidence["drug_count"] >= 8 and mix.evidence["core_share"] == 0
        assert set(mix.evidence["drugs"]) <= set(_DRUGS) and "药品" in mix.detail
    silent = (
        [f"OLD{c}" for c in range(10)]
        + [f"BIG{c}" for c in range(0, 200, 10)]
        + [f"HPC{c}" for c in range(20)]
    )
    for card in silent:
        assert "no_treatment" not in rules_of(leads, "card", card), card
    assert_worded(leads)


def test_cards_taking_turns_for_one_drug(any_session: Session) -> None:
    w = World(any_session)
    w.drug("8400100", "XT", 7, name="利伐沙班片")
    w.drug("8400101", "XK", 7, name="阿司匹林肠溶片")
    for inst in ("A", "B", "C"):
        w.institution(inst)
    # Usual use: a box a month, each card on its own day.
    for i in range(30):
        for month in range(10):
            at = T0 + timedelta(days=30 * month + i % 25, hours=8 + i % 3)
            w.sale(inst="ABC"[(i + month) % 3], card=f"U{i}", code=w.new_code("8400100"), med="XT", at=at)
    # Four cards in turn, a box a week at three pharmacies; every third trip two of them.
    ring = [f"TURN{i}" for i in range(4)]
    for trip in range(40):
        at = T0 + timedelta(days=trip * 300 // 40, hours=17)
        cards = [ring[trip % 4]] + ([ring[(trip + 1) % 4]] if trip % 3 == 0 else [])
        for i, card in enumerate(cards):
            code = w.new_code("8400100")
            w.sale(inst="ABC"[trip % 3], card=card, code=code, med="XT", at=at + timedelta(minutes=i))
    # A household: both parents on the same drug, fetched with the children's in one trip a
    # month, at two pharmacies in turn; now and then a parent comes alone a week later.
    home = [f"HOME{i}" for i in range(4)]
    for month in range(10):
        at = T0 + timedelta(days=30 * month + 3, hours=18)
        for i, card in enumerate(home):
            late = timedelta(days=7) if i == 1 and month % 4 == 0 else timedelta()
            med, product = ("XT", "8400100") if i < 2 else ("XK", "8400101")
            w.sale(
                inst="AB"[month % 2],
                card=card,
                code=w.new_code(product),
                med=med,
                at=at + late + timedelta(minutes=i),
            )
    w.commit()
    leads = find_leads(session=any_session, kind="card")
    for card in ring:
        hit = next(r for r in lead_of(leads, "card", card).rules if r.rule == "card_turns")
        assert hit.evidence["drug"] == "XT" and hit.evidence["card_count"] == 4
        assert hit.evidence["days"] == 40 and hit.evidence["institutions"] == 3
        assert hit.evidence["ratio"] >= 3 and hit.evidence["units"] == 7 * 54
        assert hit.evidence["card_units"] < hit.evidence["units"] / 2  # each card alone: its share
        assert "利伐沙班片" in hit.detail and "TURN" not in hit.detail
        assert hit.to_dict()["evidence"]["cards"] == [mask_id(c) for c in ring]
        # Each card alone fetched no more than a patient's use in any way the card rules see.
        assert "small_visits" not in rules_of(leads, "card", card)
    for card in home + [f"U{i}" for i in range(30)]:
        assert "card_turns" not in rules_of(leads, "card", card), card
    assert_worded(leads)
