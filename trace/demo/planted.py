"""A world for judging leads before any box is seized: each scheme planted at a chosen strength
beside honest look-alikes that must not become leads, with the truth written beside the files.

Schemes (``strength`` 1.0 is the default size of each; 0.5 halves it, 2.0 doubles it):

* a card-rental ring: cards dispensed expensive drugs at many institutions, week after week;
* a phantom-billing hospital: cards billed every month, in bursts, by two doctors, for baskets
  of unrelated expensive drugs no patient collected;
* a reselling pharmacy: boxes already dispensed, settled again;
* a code-cloning pharmacy: one box's code settled on another drug's box;
* rented cards that travel together: a collector hands a few of them over the counter one
  after another, a trip a week, at one pharmacy or clinic after another;
* cards fetching one drug a box at a time every ten days from two institutions in turn (many
  small visits: no window holds more than a plausible dose, the year holds three times it);
* four cards taking turns for one expensive drug ("定期轮换用卡"): a collector fetches a box
  with one card, a week later with the next, now and then with two, at three pharmacies and
  clinics; no card alone gets more than a patient's use, the four together five times it.

The phantom-billing hospital's cards are also the pattern of drug mixes that do not look like
a treatment: baskets drawn anew each month, no drug coming back as a chronic patient's does.

Look-alikes (decoys): a big honest hospital (many times the others' volume), elderly patients
refilling the same chronic drugs monthly at two institutions (a drug mix that is a treatment),
families whose cards visit one pharmacy together, households whose two parents take the same
chronic drug and fetch it together at two institutions (cards of one group sharing a drug at
plausible doses), split packs and returns (in honest life), and a pharmacy whose counter program
uploads some sales twice minutes apart.

The contract files (institutions, insured persons, catalog, dispensing) are written with
``truth.json``; a seizure of some of the ring's boxes at a stall is written beside them
(``truth.seizure_files``), for loading or leaving out: without it the leads found are those a
unit has before the raid.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from rxtrace.trace.demo.world import Drug, _catalog, _honest_life, _insured, _with_crs, _World, _write_csv

__all__ = ["Truth", "plant_world"]


@dataclass
class Truth:
    """Who is what in a planted world: the schemes' entities and the decoys'."""

    strength: float
    seed: int
    ring_cards: list[str] = field(default_factory=list)
    phantom_institution: str = ""
    phantom_doctors: list[str] = field(default_factory=list)
    phantom_cards: list[str] = field(default_factory=list)
    reseller: str = ""
    cloner: str = ""
    rotation_cards: list[str] = field(default_factory=list)
    small_visit_cards: list[str] = field(default_factory=list)
    turn_cards: list[str] = field(default_factory=list)
    decoy_institutions: dict[str, str] = field(default_factory=dict)
    decoy_cards: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seizure_files: list[str] = field(default_factory=list)


def plant_world(folder: Path, *, strength: float = 1.0, seed: int = 11, persons: int = 2000) -> Truth:
    """Write the planted world's contract files and ``truth.json`` into ``folder``."""
    if strength <= 0:
        raise ValueError(f"strength must be above 0, got {strength}")
    folder.mkdir(parents=True, exist_ok=True)
    w = _World(seed, persons)
    truth = Truth(strength=strength, seed=seed)
    # Honest institutions' fund shares differ a little (their patients' insurance, their drugs).
    w.fund_shares = {
        i["fixmedins_code"]: min(0.9, max(0.6, w.rng.gauss(0.75, 0.025))) for i in w.institutions
    }
    _honest_life(w)
    _big_hospital(w, truth)
    _chronic_patients(w, truth)
    _families(w, truth)
    _counter_duplicates(w, truth)
    diverted = _ring(w, truth, strength)
    _phantom_hospital(w, truth, strength)
    _reseller(w, truth, strength, diverted)
    _cloner(w, truth, strength, diverted)
    # After the others, so that adding them left the others' draws as they were.
    _rotation(w, truth, strength)
    _small_visits(w, truth, strength)
    _turns(w, truth, strength)
    _sharing_households(w, truth)
    seized = _stall_seizure(w, diverted)
    truth.files = [str(p) for p in _write(folder, w)]
    truth.seizure_files = [
        str(_write_csv(folder / "seizures.csv", [_STALL])),
        str(_write_csv(folder / "seized_codes.csv", seized)),
    ]
    (folder / "truth.json").write_text(json.dumps(asdict(truth), ensure_ascii=False, indent=2) + "\n")
    return truth


def _scaled(base: int, strength: float) -> int:
    return max(1, round(base * strength))


def _big_hospital(w: _World, truth: Truth) -> None:
    """One hospital with several times any other's volume, of ordinary visits."""
    rng = w.rng
    hospital = next(i for i in w.institutions if i["kind"] == "hospital")
    truth.decoy_institutions["big_hospital"] = hospital["fixmedins_code"]
    for person in rng.sample(w.persons, min(len(w.persons), 900)):
        for _ in range(rng.randrange(2, 6)):
            when = w.when()
            doctor = f"D{hospital['fixmedins_code'][1:]}{rng.randrange(12):02d}"
            for drug in rng.sample(w.drugs, rng.randrange(1, 4)):
                w.sell(w.new_code(drug), drug, person, hospital, when, doctor=doctor)


def _chronic_patients(w: _World, truth: Truth) -> None:
    """Elderly patients refilling the same chronic drugs every month, at two institutions."""
    rng = w.rng
    chronic = [d for d in w.drugs if not d.expensive]
    patients = rng.sample(w.persons, 40)
    truth.decoy_cards["chronic"] = [p["psn_no"] for p in patients]
    for person in patients:
        person["birth_year"] = rng.randrange(1935, 1950)
        drugs = rng.sample(chronic, 4)
        places = rng.sample([i for i in w.institutions if i["kind"] != "hospital"], 2)
        for month in range(12):
            when = datetime(2025, 1, 5) + timedelta(
                days=30 * month + rng.randrange(5), hours=rng.randrange(8, 18)
            )
            for drug in drugs:
                w.sell(w.new_code(drug), drug, person, places[month % 2], when)


def _families(w: _World, truth: Truth) -> None:
    """Families of four whose cards visit one pharmacy together, month after month."""
    rng = w.rng
    pharmacy = w.pharmacies[3]
    truth.decoy_institutions["family_pharmacy"] = pharmacy["fixmedins_code"]
    members = rng.sample(w.persons, 60)
    truth.decoy_cards["families"] = [p["psn_no"] for p in members]
    chronic = [d for d in w.drugs if not d.expensive]
    for start in range(0, len(members), 4):
        family = members[start : start + 4]
        for month in range(10):
            when = datetime(2025, 2, 1) + timedelta(
                days=30 * month + rng.randrange(10), hours=rng.randrange(9, 19)
            )
            for i, person in enumerate(family):
                drug = rng.choice(chronic)
                w.sell(w.new_code(drug), drug, person, pharmacy, when + timedelta(minutes=2 * i))


def _counter_duplicates(w: _World, truth: Truth) -> None:
    """A pharmacy whose counter program uploads some sales a second time minutes later."""
    rng = w.rng
    pharmacy = w.pharmacies[9]
    truth.decoy_institutions["counter_duplicates"] = pharmacy["fixmedins_code"]
    for _ in range(40):
        drug = rng.choice(w.drugs)
        w.sell(w.new_code(drug), drug, rng.choice(w.persons), pharmacy, w.when())
        repeat = dict(w.sales[-1])
        at = datetime.strptime(repeat["sel_retn_time"], "%Y-%m-%d %H:%M:%S") + timedelta(
            minutes=rng.randrange(1, 6)
        )
        repeat["sel_retn_time"] = at.strftime("%Y-%m-%d %H:%M:%S")
        repeat["mdtrt_sn"] = repeat["mdtrt_sn"] + "R"  # the retried upload's own row
        w.sales.append(repeat)


def _ring(w: _World, truth: Truth, strength: float) -> list[tuple[str, Drug]]:
    """Rented cards collecting expensive drugs at many institutions, several times a week."""
    rng = w.rng
    cards = rng.sample(w.persons, 24)
    truth.ring_cards = [p["psn_no"] for p in cards]
    diverted: list[tuple[str, Drug]] = []
    for person in cards:
        for _ in range(_scaled(40, strength)):
            drug = rng.choice(w.expensive)
            code = w.new_code(drug)
            where = rng.choice(w.clinics + w.pharmacies)
            w.sell(code, drug, person, where, w.when(datetime(2025, 6, 1), 200))
            diverted.append((code, drug))
    return diverted


def _phantom_hospital(w: _World, truth: Truth, strength: float) -> None:
    """A hospital billing cards it never treated: each month, in a morning's burst, two
    doctors bill a share of its cards for a basket of unrelated expensive drugs."""
    rng = w.rng
    hospital = [i for i in w.institutions if i["kind"] == "hospital"][5]
    truth.phantom_institution = hospital["fixmedins_code"]
    doctors = [f"D{hospital['fixmedins_code'][1:]}9{n}" for n in range(2)]
    truth.phantom_doctors = doctors
    cards = rng.sample(w.persons, 80)
    truth.phantom_cards = [p["psn_no"] for p in cards]
    share = min(1.0, 0.6 * strength)
    # No patient pays a part of a bill nobody collected: the fund is charged nearly all of it.
    fund_share = min(0.98, 0.75 + 0.2 * strength)
    for month in range(8):
        morning = datetime(2025, 3, 3, 8, 0) + timedelta(days=30 * month + rng.randrange(3))
        for i, person in enumerate(p for p in cards if rng.random() < share):
            basket = rng.sample(w.expensive, rng.randrange(2, 4))
            when = morning + timedelta(minutes=2 * i + rng.randrange(2))
            for drug in basket:
                w.sell(
                    w.new_code(drug),
                    drug,
                    person,
                    hospital,
                    when,
                    doctor=doctors[i % 2],
                    fund_share=fund_share,
                )


def _reseller(w: _World, truth: Truth, strength: float, diverted: list[tuple[str, Drug]]) -> None:
    """A pharmacy settling boxes already dispensed a second time."""
    rng = w.rng
    reseller = w.pharmacies[17]
    truth.reseller = reseller["fixmedins_code"]
    for code, drug in rng.sample(diverted, min(len(diverted), _scaled(30, strength))):
        w.sell(code, drug, rng.choice(w.persons), reseller, w.when(datetime(2025, 12, 1), 30))


def _cloner(w: _World, truth: Truth, strength: float, diverted: list[tuple[str, Drug]]) -> None:
    """A pharmacy settling codes of one drug on boxes of another."""
    rng = w.rng
    cloner = w.pharmacies[22]
    truth.cloner = cloner["fixmedins_code"]
    for code, drug in rng.sample(diverted, min(len(diverted), _scaled(4, strength))):
        other = next(d for d in w.expensive if d is not drug)
        when = w.when(datetime(2025, 11, 1), 30)
        w.sell(code, other, rng.choice(w.persons), cloner, when, med_list_codg=other.med_list_codg)


def _unused(w: _World, truth: Truth, n: int) -> list[dict[str, str]]:
    """``n`` persons who play no part yet: a scheme's cards are its own."""
    taken = {
        *truth.ring_cards,
        *truth.phantom_cards,
        *truth.rotation_cards,
        *truth.small_visit_cards,
        *truth.turn_cards,
    }
    taken |= {c for cards in truth.decoy_cards.values() for c in cards}
    return w.rng.sample([p for p in w.persons if p["psn_no"] not in taken], n)


def _rotation(w: _World, truth: Truth, strength: float) -> None:
    """Rented cards that travel together: each week a collector takes three to five of ten
    cards to one of five pharmacies and clinics and hands them over the counter one after
    another, each for a box of an expensive drug. No card alone gets much of any drug."""
    rng = w.rng
    cards = _unused(w, truth, 10)
    truth.rotation_cards = [p["psn_no"] for p in cards]
    places = rng.sample(w.clinics + w.pharmacies, 5)
    for week in range(_scaled(30, strength)):
        when = datetime(2025, 2, 3, 9) + timedelta(days=7 * week + rng.randrange(3), hours=rng.randrange(9))
        where = rng.choice(places)
        for i, person in enumerate(rng.sample(cards, rng.randrange(3, 6))):
            drug = rng.choice(w.expensive)
            at = when + timedelta(minutes=2 * i + rng.randrange(2))
            w.sell(w.new_code(drug), drug, person, where, at)


def _small_visits(w: _World, truth: Truth, strength: float) -> None:
    """Cards fetching one expensive drug a box at a time, every ten days or so, from two
    institutions in turn, for ten months ("每月多次就诊少量配药")."""
    rng = w.rng
    cards = _unused(w, truth, 12)
    truth.small_visit_cards = [p["psn_no"] for p in cards]
    drugs = [d for d in w.expensive if d.units >= 7]
    for person in cards:
        drug = rng.choice(drugs)
        places = rng.sample(w.clinics + w.pharmacies, 2)
        visits = _scaled(30, strength)
        for v in range(visits):
            when = datetime(2025, 2, 1) + timedelta(
                days=v * 300 // visits + rng.randrange(3), hours=rng.randrange(8, 19)
            )
            w.sell(w.new_code(drug), drug, person, places[v % 2], when)


def _turns(w: _World, truth: Truth, strength: float) -> None:
    """Four cards taking turns for one expensive drug: a box with the next card every week or
    so, for ten months; every third trip the collector brings the card after it too. The
    trips in pairs tie the four cards in the co-visit graph (a ring of pairs, each together
    on three or four days at the default strength)."""
    rng = w.rng
    cards = _unused(w, truth, 4)
    truth.turn_cards = [p["psn_no"] for p in cards]
    drug = rng.choice([d for d in w.expensive if d.units >= 7])
    places = rng.sample(w.clinics + w.pharmacies, 3)
    trips = _scaled(40, strength)
    for trip in range(trips):
        when = datetime(2025, 2, 1) + timedelta(
            days=trip * 300 // trips + rng.randrange(2), hours=rng.randrange(9, 18)
        )
        where = places[trip % 3]
        turn = [cards[trip % 4]] + ([cards[(trip + 1) % 4]] if trip % 3 == 0 else [])
        for i, person in enumerate(turn):
            w.sell(w.new_code(drug), drug, person, where, when + timedelta(minutes=2 * i))


def _sharing_households(w: _World, truth: Truth) -> None:
    """Three households of four: both parents take the same chronic drug, a box each a month,
    fetched with the whole family's other drugs in one trip, at a pharmacy and a clinic in
    turn; now and then one parent fetches the box alone a week later."""
    rng = w.rng
    members = _unused(w, truth, 12)
    truth.decoy_cards["sharing_households"] = [p["psn_no"] for p in members]
    chronic = [d for d in w.drugs if not d.expensive]
    for start in range(0, len(members), 4):
        family = members[start : start + 4]
        shared, *own = rng.sample(chronic, 3)
        places = [rng.choice(w.pharmacies), rng.choice(w.clinics)]
        for month in range(10):
            when = datetime(2025, 2, 5) + timedelta(
                days=30 * month + rng.randrange(4), hours=rng.randrange(9, 18)
            )
            where = places[month % 2]
            for i, person in enumerate(family):
                at = when + timedelta(minutes=2 * i)
                if i < 2:
                    late = i == 1 and rng.random() < 0.25
                    w.sell(w.new_code(shared), shared, person, where, at + timedelta(days=7 * late))
                    w.sell(w.new_code(own[i]), own[i], person, where, at)
                elif rng.random() < 0.5:
                    drug = rng.choice(chronic)
                    w.sell(w.new_code(drug), drug, person, where, at)


_STALL: dict[str, object] = {
    "seizure_id": "SZ-PLANTED-1",
    "case_id": "PLANTED",
    "seized_at": "2026-01-10 10:30:00",
    "place_kind": "stall",
    "address": "普陀区某小区门口",
    "lon": 121.402,
    "lat": 31.255,
    "crs": "wgs84",
    "waybill_no": "",
}


def _stall_seizure(w: _World, diverted: list[tuple[str, Drug]]) -> list[dict[str, str]]:
    """A stall's boxes: forty of the ring's diverted boxes."""
    return [
        {"seizure_id": str(_STALL["seizure_id"]), "code": code, "scanned_at": "", "box_med_list_codg": ""}
        for code, _ in w.rng.sample(diverted, min(len(diverted), 40))
    ]


def _write(folder: Path, w: _World) -> list[Path]:
    w.rng.shuffle(w.sales)
    return [
        _write_csv(folder / "institutions.csv", _with_crs(w.institutions, w.rng)),
        _write_csv(folder / "insured.csv", _insured(w)),
        _write_csv(folder / "catalog.csv", _catalog(w)),
        _write_csv(folder / "dispensing.csv", w.sales),
    ]
