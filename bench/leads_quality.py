"""How well the leads find planted schemes before any box is seized, and how often honest
look-alikes rank above them.

    .venv/bin/python bench/leads_quality.py [--strengths 0.25,0.5,1,2] [--engine sqlite|postgres]
        [--seizures without,with]

For each strength, ``rxtrace.trace.demo.planted`` writes a world (a rental ring, a
phantom-billing hospital, a reselling and a cloning pharmacy, cards travelling together, cards
making many small visits and cards taking turns for one drug, beside a big honest hospital,
chronic patients at two institutions, families at one pharmacy, households sharing a chronic
drug and a counter that uploads sales twice), loads it with no seizure (and again with a
stall's seizure of forty of the ring's boxes) and runs every rule. Printed per strength:

- the rank of the phantom-billing hospital, the reseller and the cloner among institution leads
  (targets: each in the top 5);
- the share of ring cards in the top 50 card leads (target ≥ 90 %) and of phantom-billed cards
  in the top 150 (target ≥ 80 %), other schemes' cards set aside (the ring's "(all)" column
  counts them: with four schemes of cards in one world, the others' take places in a top 50);
- the decoys in the top 10 of any kind (target: none);
- the share of cards travelling together (a rotation group), of cards making many small
  visits and of cards taking turns for one drug found in the top 150 card leads, other
  schemes' cards set aside; the share of phantom-billed cards whose drug mix was found to be
  no treatment, and whether the phantom hospital was found by it (no target in the issue:
  reported).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from rxtrace.trace.demo.planted import Truth, plant_world
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.investigate import Lead, find_leads
from rxtrace.trace.protect import Protector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from leads_bench import scratch_engine  # the benches' shared scratch database


def rank_of(leads: list[Lead], kind: str, ident: str) -> int | None:
    """1-based rank of an entity among the leads of its kind, or None when it is no lead."""
    ranked = [lead.id for lead in leads if lead.kind == kind]
    return ranked.index(ident) + 1 if ident in ranked else None


def recall(
    leads: list[Lead], kind: str, idents: list[str], top: int, *, besides: frozenset[str] = frozenset()
) -> float:
    """The share of ``idents`` among the first ``top`` leads of ``kind``, not counting the
    entities in ``besides`` (other schemes' cards: a top 50 of the ring cards and honest
    cards is what the target is about; cards of other planted schemes above them are no
    failure of the ring's rules)."""
    ranked = [x.id for x in leads if x.kind == kind and (x.id in idents or x.id not in besides)]
    shown = set(ranked[:top])
    return sum(1 for i in idents if i in shown) / len(idents) if idents else 0.0


def other_schemes(truth: Truth, own: list[str]) -> frozenset[str]:
    """The cards of every planted scheme but the one of ``own``."""
    return frozenset(planted_cards(truth) - set(own))


def planted_cards(truth: Truth) -> set[str]:
    """The cards of every planted scheme."""
    return {
        *truth.ring_cards,
        *truth.phantom_cards,
        *truth.rotation_cards,
        *truth.small_visit_cards,
        *truth.turn_cards,
    }


def decoys_on_top(leads: list[Lead], truth: Truth, top: int = 10) -> list[str]:
    """The decoys among the first ``top`` leads of each kind, as kind:id."""
    decoy_insts = set(truth.decoy_institutions.values())
    decoy_cards = {c for cards in truth.decoy_cards.values() for c in cards}
    planted = planted_cards(truth)
    out = []
    for kind in ("card", "institution", "doctor", "code"):
        for lead in [x for x in leads if x.kind == kind][:top]:
            if (kind == "institution" and lead.id in decoy_insts) or (
                kind == "card" and lead.id in decoy_cards and lead.id not in planted
            ):
                out.append(f"{kind}:{lead.id}")
    return out


def with_rule(leads: list[Lead], kind: str, idents: list[str], rule: str) -> float:
    """The share of ``idents`` that are leads of ``kind`` with ``rule`` among their hits."""
    fired = {x.id for x in leads if x.kind == kind and any(r.rule == rule for r in x.rules)}
    return sum(1 for i in idents if i in fired) / len(idents) if idents else 0.0


def measure(strength: float, engine_name: str, *, seized: bool = False) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="rxtrace-quality-"))
    try:
        truth = plant_world(folder / "world", strength=strength)
        with scratch_engine(engine_name, "rxtrace-quality") as engine, Session(engine) as session:
            files = [Path(p) for p in (*truth.files, *(truth.seizure_files if seized else ()))]
            report = load_paths(files, session=session, protector=Protector(b"q" * 32))
            session.commit()
            assert not report.refused, report.refused
            started = time.perf_counter()
            leads = find_leads(session=session)
            seconds = time.perf_counter() - started
            rows = session.execute(text("SELECT COUNT(*) FROM dispensing")).scalar_one()
        return {
            "strength": strength,
            "seized": seized,
            "rows": rows,
            "seconds": seconds,
            "phantom": rank_of(leads, "institution", truth.phantom_institution),
            "reseller": rank_of(leads, "institution", truth.reseller),
            "cloner": rank_of(leads, "institution", truth.cloner),
            "ring_top50_all": recall(leads, "card", truth.ring_cards, 50),
            "ring_top50": recall(
                leads, "card", truth.ring_cards, 50, besides=other_schemes(truth, truth.ring_cards)
            ),
            "phantom_cards_top150": recall(
                leads, "card", truth.phantom_cards, 150, besides=other_schemes(truth, truth.phantom_cards)
            ),
            "phantom_doctor": min(
                (r for d in truth.phantom_doctors if (r := rank_of(leads, "doctor", d)) is not None),
                default=None,
            ),
            "rotation_top150": recall(
                leads, "card", truth.rotation_cards, 150, besides=other_schemes(truth, truth.rotation_cards)
            ),
            "small_visits_top150": recall(
                leads,
                "card",
                truth.small_visit_cards,
                150,
                besides=other_schemes(truth, truth.small_visit_cards),
            ),
            "turns_top150": recall(
                leads, "card", truth.turn_cards, 150, besides=other_schemes(truth, truth.turn_cards)
            ),
            "phantom_cards_mix": with_rule(leads, "card", truth.phantom_cards, "no_treatment"),
            "phantom_mix": with_rule(leads, "institution", [truth.phantom_institution], "no_treatment_at"),
            "decoys_top10": decoys_on_top(leads, truth),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--strengths", default="0.25,0.5,1,2")
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seizures", default="without,with", help="without, with, or both")
    args = parser.parse_args()
    modes = [m.strip() for m in args.seizures.split(",")]
    if not modes or set(modes) - {"without", "with"}:
        parser.error("--seizures takes without, with, or both")
    print(f"# leads_quality: engine {args.engine}; seizures {', '.join(modes)}")
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{'strength':>8} {'seized':>6} {'rows':>7} {'leads s':>8} {'phantom':>8} {'reseller':>9} "
        f"{'cloner':>7} {'ring@50':>8} {'(all)':>6} {'ph.cards@150':>13} {'ph.doctor':>10} "
        f"{'rotation@150':>13} {'small@150':>10} {'turns@150':>10} {'ph.mix':>7} {'cards':>6}"
        f"  decoys in a top 10"
    )

    def rank(value: int | None) -> str:
        return "-" if value is None else str(value)

    for strength in (float(s) for s in args.strengths.split(",")):
        for mode in modes:
            r = measure(strength, args.engine, seized=mode == "with")
            print(
                f"{strength:>8g} {'yes' if r['seized'] else 'no':>6} {r['rows']:>7} {r['seconds']:>8.2f} "
                f"{rank(r['phantom']):>8} {rank(r['reseller']):>9} {rank(r['cloner']):>7} "
                f"{r['ring_top50']:>8.0%} {r['ring_top50_all']:>6.0%} "
                f"{r['phantom_cards_top150']:>13.0%} {rank(r['phantom_doctor']):>10} "
                f"{r['rotation_top150']:>13.0%} {r['small_visits_top150']:>10.0%} "
                f"{r['turns_top150']:>10.0%} {'yes' if r['phantom_mix'] else 'no':>7} "
                f"{r['phantom_cards_mix']:>6.0%}  {', '.join(r['decoys_top10']) or 'none'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
