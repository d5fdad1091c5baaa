"""Cards taking turns ("定期轮换用卡"): one drug fetched on many days by a group of cards that
come to the counter together, each card's share plausible, the group's far beyond what one
card takes.

The many small visits of one card (``small_visits``, :mod:`rxtrace.trace.investigate.rules_cards`)
widened to the cards it comes with: a collector holding a household's or a ring's cards fetches
the drug with one card, then another, so that no card alone shows more than a patient's use.
The group is a community of the co-visit graph (``covisit_groups`` of
:mod:`rxtrace.trace.investigate.rules_covisits`, from ``turns_min_cards`` cards); its sales
are read through the card index, and judged by the small-visits thresholds on the group's
distinct days: a household whose members take the same drug fetches it together, on one day
a month, and stays below them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta

from rxtrace.trace.investigate.findings import CardSale, Found, drug_names, limited, sales_of_cards
from rxtrace.trace.investigate.params import EPOCH, LeadParams, RuleHit
from rxtrace.trace.investigate.rules_cards import SmallVisits, small_visits
from rxtrace.trace.investigate.rules_covisits import covisit_groups
from rxtrace.trace.investigate.sql import Sql

__all__ = ["Turns", "rule_card_turns", "turns_of"]


@dataclass(frozen=True)
class Turns:
    """One drug fetched by a group's cards: by whom, where, on which days, and how much."""

    med: str
    cards: tuple[str, ...]
    institutions: int
    first_day: int
    last_day: int
    seen: SmallVisits
    per_card: dict[str, int]
    setl_ids: tuple[str, ...]


def turns_of(
    group: tuple[str, ...], sales: list[CardSale], typical: dict[str, float], params: LeadParams
) -> list[Turns]:
    """The drugs a group's cards fetched in turns beyond one card's plausible use: by two
    cards or more that each fetched it on ``turns_min_days`` days or more (and none of them
    enough for the small-visits rule alone), together on
    ``small_visits_min_visits`` days or more (distinct days), at two institutions or more,
    ``small_visits_per_month`` days a window and ``small_visits_ratio`` times a card's usual
    quantity over the span.

    A box of 14 every ten days, four cards in turn at three pharmacies:

    >>> ring = ("C0", "C1", "C2", "C3")
    >>> sales = [
    ...     CardSale(f"C{d % 4}", "X", f"P{d % 3}", 10 * d, f"S{d}", None, 14, 864000 * d)
    ...     for d in range(30)
    ... ]
    >>> found = turns_of(ring, sales, {"X": 14.0}, LeadParams())
    >>> [(t.med, t.cards, t.seen.visits, round(t.seen.ratio, 1)) for t in found]
    [('X', ('C0', 'C1', 'C2', 'C3'), 30, 3.1)]

    A household of three on the same drug, fetching it together once a month:

    >>> home = [
    ...     CardSale(f"C{i}", "X", f"P{m % 2}", 30 * m, f"S{m}{i}", None, 14, 2592000 * m)
    ...     for m in range(10)
    ...     for i in range(3)
    ... ]
    >>> turns_of(("C0", "C1", "C2"), home, {"X": 14.0}, LeadParams())
    []
    """
    members = set(group)
    # The small-visits test, at the group's thresholds.
    over_group = replace(
        params, small_visits_per_month=params.turns_per_month, small_visits_ratio=params.turns_ratio
    )
    by_drug: dict[str, list[CardSale]] = defaultdict(list)
    for sale in sales:
        if sale.psn in members:
            by_drug[sale.med].append(sale)
    out = []
    for med, sold in sorted(by_drug.items()):
        of_card: dict[str, list[CardSale]] = defaultdict(list)
        for s in sold:
            of_card[s.psn].append(s)
        # A card whose own visits already pass the small-visits test is that rule's lead: the
        # turn is what no card shows alone.
        cards = sorted(
            c
            for c, own in of_card.items()
            if len({s.day for s in own}) >= params.turns_min_days
            and _alone(own, typical.get(med), params) is None
        )
        if len(cards) < 2:
            continue
        fetched = [s for s in sold if s.psn in cards]
        days = {s.day for s in fetched}
        units = sum(s.units or 0 for s in fetched)
        seen = small_visits(
            len(days),
            len({s.inst for s in fetched}),
            units,
            min(days),
            max(days),
            typical.get(med),
            over_group,
        )
        if seen is None:
            continue
        per_card: dict[str, int] = defaultdict(int)
        for s in fetched:
            per_card[s.psn] += s.units or 0
        out.append(
            Turns(
                med,
                tuple(cards),
                seen.institutions,
                min(days),
                max(days),
                seen,
                dict(per_card),
                tuple(sorted({s.setl for s in fetched})),
            )
        )
    return out


def _alone(sales: list[CardSale], typical: float | None, params: LeadParams) -> SmallVisits | None:
    days = [s.day for s in sales]
    units = sum(s.units or 0 for s in sales)
    return small_visits(
        len(set(days)), len({s.inst for s in sales}), units, min(days), max(days), typical, params
    )


def rule_card_turns(sql: Sql, params: LeadParams, found: Found) -> None:
    """Each card of a group that fetched a drug in turns is a lead, with the group's figures."""
    edges = sql.rows(
        "SELECT psn_a, psn_b, days, institutions, fixmedins_code FROM lead_basis_covisit WHERE days >= :d",
        {"d": int(params.covisit_min_days)},
    )
    # The co-visit communities, small ones kept too: a household's or a small ring's cards.
    groups = covisit_groups(
        ((a, b, int(d), int(n), i) for a, b, d, n, i in edges),
        replace(params, covisit_min_cards=params.turns_min_cards),
    )
    if not groups:
        return
    typical = {
        med: float(t) for med, t in sql.rows("SELECT med_list_codg, typical FROM lead_basis_drug") if t
    }
    sales = sales_of_cards(sql, (c for g in groups for c in g.cards))
    found_turns = [(group, t) for group in groups for t in turns_of(group.cards, sales, typical, params)]
    names = drug_names(sql, {t.med for _, t in found_turns})
    for group, t in found_turns:
        seen = t.seen
        start, end = EPOCH + timedelta(days=t.first_day), EPOCH + timedelta(days=t.last_day)
        usual = seen.expected_units / seen.windows
        contribution = params.w_turns * min(0.5 + math.log2(seen.ratio / params.turns_ratio), 2.0)
        for card in t.cards:
            found.add(
                "card",
                card,
                RuleHit(
                    "card_turns",
                    "Cards taking turns for one drug",
                    contribution,
                    # No card number in the words: the evidence masks them.
                    f"{len(t.cards)} cards of a group of {len(group.cards)} that come to the counter "
                    f"together fetched {names[t.med]} on {seen.visits} days at {t.institutions} "
                    f"institutions from {start:%Y-%m-%d} to {end:%Y-%m-%d} "
                    f"({seen.per_window:.1f} days a {params.window_days}-day window): {seen.units} units, "
                    f"{seen.ratio:.1f}× a card's usual {usual:.0f} a window over the span; "
                    f"this card {t.per_card[card]} of them",
                    {
                        "drug": t.med,
                        "cards": list(t.cards),
                        "card_count": len(t.cards),
                        "group_size": len(group.cards),
                        "days": seen.visits,
                        "institutions": t.institutions,
                        "units": seen.units,
                        "card_units": t.per_card[card],
                        "first_day": start.date().isoformat(),
                        "last_day": end.date().isoformat(),
                        "days_per_window": round(seen.per_window, 1),
                        "expected_units": round(seen.expected_units, 1),
                        "ratio": round(seen.ratio, 1),
                        "setl_ids": limited(t.setl_ids, params),
                    },
                ),
            )
