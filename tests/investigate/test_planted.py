"""The planted world for judging leads: its truth matches its files, and on it the rules that
work before any seizure find their schemes while the honest look-alikes stay out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from rxtrace.trace.demo.planted import plant_world
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.investigate import find_leads
from rxtrace.trace.protect import Protector


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
    cards = [lead.id for lead in leads if lead.kind == "card"]
    assert len(set(cards[:50]) & set(truth.ring_cards)) >= 0.9 * len(truth.ring_cards)
    # The phantom biller from its fund share, its cards and doctors through it.
    assert truth.phantom_institution in [lead.id for lead in institutions[:5]]
    assert len(set(cards[:150]) & set(truth.phantom_cards)) >= 0.8 * len(truth.phantom_cards)
    doctors = [lead.id for lead in leads if lead.kind == "doctor"]
    assert set(truth.phantom_doctors) <= set(doctors[:5])
    for decoy in truth.decoy_institutions.values():
        assert decoy not in [lead.id for lead in institutions[:10]]
