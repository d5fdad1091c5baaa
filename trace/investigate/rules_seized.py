"""Seizure rules: cards, institutions and doctors behind the boxes seized."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Set

from rxtrace.trace.investigate.findings import (
    Found,
    attribute_rate,
    counted,
    exposure_of_doctors,
    exposure_of_institutions,
    limited,
    sales_of_cards,
)
from rxtrace.trace.investigate.params import LeadParams, RuleHit
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.money import fen_to_yuan

__all__ = ["rule_seized"]


def rule_seized(sql: Sql, params: LeadParams, found: Found, kinds: set[str]) -> None:
    """Cards whose boxes were seized; institutions and doctors whose share of seized boxes is
    far beyond their share of sales; doctors whose prescriptions go to the seized cards."""
    rows = sql.rows(
        "SELECT id, hi, lo, setl_id, inst, psn, dr, cnt, fen, seizures FROM rxtrace_lead_seized_sales"
    )
    box_seizures: dict[tuple[int, int], set[str]] = defaultdict(set)
    for hi, lo, sid in sql.rows("SELECT hi, lo, seizure_id FROM rxtrace_lead_seized"):
        box_seizures[(hi, lo)].add(sid)
    card_boxes: dict[str, set[tuple[int, int]]] = defaultdict(set)
    card_fen: dict[str, int] = defaultdict(int)
    card_setls: dict[str, set[str]] = defaultdict(set)
    card_insts: dict[str, set[str]] = defaultdict(set)
    inst_events: dict[str, list[str]] = defaultdict(list)
    doctor_events: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        card_fen[row.psn] += int(row.fen)
        if row.cnt > 0:
            card_boxes[row.psn].add((row.hi, row.lo))
            card_setls[row.psn].add(row.setl_id)
            card_insts[row.psn].add(row.inst)
            inst_events[row.inst].append(row.setl_id)
            if row.dr:
                doctor_events[row.dr].append(row.setl_id)
    if "card" in kinds:
        _seized_cards(params, found, card_boxes, card_fen, card_setls, card_insts, box_seizures)
    if "institution" in kinds:
        exposure = exposure_of_institutions(sql)
        attribute_rate(
            sql,
            params,
            found,
            "institution",
            "seized_share",
            "Share of sales found in seizures",
            params.w_seized_share,
            counted(inst_events),
            exposure,
            "sold boxes found in seizures",
        )
    if "doctor" in kinds and (doctor_events or card_boxes):
        _seized_doctors(sql, params, found, doctor_events, card_boxes.keys())


def _seized_cards(
    params: LeadParams,
    found: Found,
    card_boxes: dict[str, set[tuple[int, int]]],
    card_fen: dict[str, int],
    card_setls: dict[str, set[str]],
    card_insts: dict[str, set[str]],
    box_seizures: dict[tuple[int, int], set[str]],
) -> None:
    """A card whose boxes were seized: log2 of the boxes, up to four times the rule's weight."""
    for card, boxes in card_boxes.items():
        seizures = set().union(*(box_seizures[b] for b in boxes))
        contribution = params.w_seized * min(math.log2(1 + len(boxes)), 4.0)
        found.add(
            "card",
            card,
            RuleHit(
                "card_seized",
                "Card whose boxes were seized",
                contribution,
                f"{len(boxes)} seized box(es) were bought on this card, "
                f"{fen_to_yuan(card_fen[card])} yuan of fund money, in {len(seizures)} "
                f"seizure(s), from {len(card_insts[card])} institution(s)",
                {
                    "boxes": len(boxes),
                    "fund_fen": card_fen[card],
                    "fund_yuan": str(fen_to_yuan(card_fen[card])),
                    "seizures": sorted(seizures),
                    "institutions": sorted(card_insts[card]),
                    "setl_ids": limited(card_setls[card], params),
                },
            ),
        )


def _seized_doctors(
    sql: Sql, params: LeadParams, found: Found, doctor_events: dict[str, list[str]], seized_cards: Set[str]
) -> None:
    """A doctor whose prescriptions are over-represented among seized boxes, and one whose
    prescriptions go to the cards with seized boxes."""
    doctor_exposure = exposure_of_doctors(sql)
    totals = (sum(n for n, _ in doctor_exposure.values()), len(doctor_exposure))
    attribute_rate(
        sql,
        params,
        found,
        "doctor",
        "seized_share",
        "Share of prescriptions found in seizures",
        params.w_seized_share,
        counted(doctor_events),
        doctor_exposure,
        "prescribed boxes found in seizures",
        totals=totals,
    )
    if seized_cards:
        # The seized cards' sales (read ahead with the other cards the rules single out):
        # their count per doctor is the event, their settlements the evidence.
        prescribed: dict[str, int] = defaultdict(int)
        setls_of: dict[str, set[str]] = defaultdict(set)
        for sale in sales_of_cards(sql, seized_cards):
            if sale.dr is not None:
                prescribed[sale.dr] += 1
                setls_of[sale.dr].add(sale.setl)
        concentrated = {dr: (k, limited(setls_of[dr], params)) for dr, k in prescribed.items()}
        attribute_rate(
            sql,
            params,
            found,
            "doctor",
            "seized_cards",
            "Prescriptions concentrated on seized cards",
            params.w_seized_cards,
            concentrated,
            doctor_exposure,
            "prescriptions for cards with seized boxes",
            totals=totals,
        )
