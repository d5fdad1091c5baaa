"""The planted world for judging leads: its truth matches its files, and on it the rules that
work before any seizure find their schemes while the honest look-alikes stay out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from rxtrace.api.web.i18n import explain_rule
from rxtrace.trace.demo.planted import plant_world
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.investigate import find_leads
from rxtrace.trace.protect import Protector

from .wording import assert_worded


def test_the_truth_names_what_the_files_hold(tmp_path: Path) -> None:
    truth = plant_world(tmp_path, strength=0.5, persons=500)
    written = json.loads((tmp_path / "truth.json").read_text())
    assert written["phantom_institution"] == truth.phantom_institution
    with (tmp_path / "dispensing.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    institutions = {r["fixmedins_code"] for r in rows}
    cards = {r["psn_no"] for r in rows}
    for inst in (truth.phantom_institution, truth.reseller, truth.cloner, *truth.decoy_institutions.values()):
        assert inst in institutions
    assert set(truth.ring_cards) <= cards and set(truth.phantom_cards) <= cards
    assert {r["dr_code"] for r in rows if r["fixmedins_code"] == truth.phantom_institution} >= set(
        truth.phantom_doctors
    )
    # The stall's seizure, loaded or left out, holds boxes the ring was dispensed.
    with Path(truth.seizure_files[1]).open(encoding="utf-8") as handle:
        seized = {r["code"] for r in csv.DictReader(handle)}
    ring = set(truth.ring_cards)
    assert seized and seized <= {r["drug_trac_codg"] for r in rows if r["psn_no"] in ring}
    assert set(truth.turn_cards) <= cards
    # The same seed writes the same files.
    again = plant_world(tmp_path / "again", strength=0.5, persons=500)
    assert (tmp_path / "dispensing.csv").read_bytes() == (tmp_path / "again" / "dispensing.csv").read_bytes()
    assert again.ring_cards == truth.ring_cards
    with pytest.raises(ValueError, match="strength"):
        plant_world(tmp_path / "none", strength=0)


def test_before_any_seizure_the_schemes_are_found_and_the_look_alikes_are_not(
    any_session: Session, tmp_path: Path
) -> None:
    truth = plant_world(tmp_path, strength=1.0, persons=800)
    report = load_paths([Path(p) for p in truth.files], session=any_session, protector=Protector(b"t" * 32))
    assert not report.refused
    any_session.commit()
    leads = find_leads(session=any_session)
    institutions = [lead for lead in leads if lead.kind == "institution"]
    assert truth.reseller in [lead.id for lead in institutions[:5]]
    counter = truth.decoy_institutions["counter_duplicates"]
    assert counter not in {lead.id for lead in institutions}
    # Ranked among honest cards: the other schemes' cards set aside (bench/leads_quality.py).
    planted = {
        *truth.ring_cards,
        *truth.phantom_cards,
        *truth.rotation_cards,
        *truth.small_visit_cards,
        *truth.turn_cards,
    }

    def cards_besides(own: list[str]) -> list[str]:
        return [x.id for x in leads if x.kind == "card" and (x.id in own or x.id not in planted)]

    cards = cards_besides(truth.ring_cards)
    assert len(set(cards[:50]) & set(truth.ring_cards)) >= 0.9 * len(truth.ring_cards)
    # The phantom biller from its fund share, its cards and doctors through it.
    assert truth.phantom_institution in [lead.id for lead in institutions[:5]]
    cards = cards_besides(truth.phantom_cards)
    assert len(set(cards[:150]) & set(truth.phantom_cards)) >= 0.8 * len(truth.phantom_cards)
    doctors = [lead.id for lead in leads if lead.kind == "doctor"]
    assert set(truth.phantom_doctors) <= set(doctors[:5])
    for decoy in truth.decoy_institutions.values():
        assert decoy not in [lead.id for lead in institutions[:10]]
    # Cards travelling together are found by their co-visits, each with the card that ties
    # them; the many small visits by the year's sum. Neither rule fires on a look-alike: the
    # families at one pharmacy, the chronic patients at two, the big hospital's patients, nor
    # the phantom hospital's cards billed in one sitting (that is the hospital's pattern).
    by_card = {lead.id: {r.rule: r for r in lead.rules} for lead in leads if lead.kind == "card"}
    rotation = [c for c in truth.rotation_cards if "co_visits" in by_card.get(c, {})]
    assert len(rotation) >= 0.9 * len(truth.rotation_cards)
    ties = {by_card[c]["co_visits"].evidence["card"] for c in rotation}
    assert len(ties) == 1 and ties <= set(truth.rotation_cards)
    assert all(by_card[c]["co_visits"].evidence["setl_ids"] for c in rotation)
    small = [c for c in truth.small_visit_cards if "small_visits" in by_card.get(c, {})]
    assert len(small) >= 0.9 * len(truth.small_visit_cards)
    look_alikes = {c for cards in truth.decoy_cards.values() for c in cards} - planted
    for card in look_alikes | (set(truth.phantom_cards) - set(truth.ring_cards)):
        assert not {"co_visits", "small_visits"} & set(by_card.get(card, {})), card
    # The phantom hospital also by its sittings: the same cards billed together month after
    # month; not the families' pharmacy.
    by_inst = {lead.id: {r.rule for r in lead.rules} for lead in leads if lead.kind == "institution"}
    assert "sittings" in by_inst[truth.phantom_institution]
    assert [i for i, rules in by_inst.items() if "sittings" in rules] == [truth.phantom_institution]
    # Cards taking turns for one drug, by what the four fetched together; the phantom
    # hospital's baskets that are no treatment, there and on its cards, nowhere else. Neither
    # on a look-alike: the chronic patients' drugs come back every month, the households'
    # parents fetch their shared drug together, the big hospital's returning patients are as
    # many as any hospital's.
    turns = [c for c in truth.turn_cards if "card_turns" in by_card.get(c, {})]
    assert turns == truth.turn_cards
    assert {c for c, rules in by_card.items() if "card_turns" in rules} <= planted
    assert [i for i, rules in by_inst.items() if "no_treatment_at" in rules] == [truth.phantom_institution]
    mixed = {c for c, rules in by_card.items() if "no_treatment" in rules}
    assert mixed <= set(truth.phantom_cards) and len(mixed) >= 0.5 * len(truth.phantom_cards)
    for card in look_alikes:
        assert not {"card_turns", "no_treatment"} & set(by_card.get(card, {})), card
    # The phantom hospital's two doctors, by their own fund share and their bursts; no other
    # doctor of the hospitals by bursts.
    by_doctor = {lead.id: {r.rule for r in lead.rules} for lead in leads if lead.kind == "doctor"}
    for doctor in truth.phantom_doctors:
        assert {"fund_share", "bursts"} <= by_doctor[doctor]
    big = truth.decoy_institutions["big_hospital"]
    assert not [d for d in by_doctor if d.startswith(f"D{big[1:]}")]
    # Every rule that fired is said in plain words, each blank filled from its own evidence.
    assert_worded(leads)
    assert explain_rule("co_visits", by_card[rotation[0]]["co_visits"].evidence, {}, "zh-CN")
