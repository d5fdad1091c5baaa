"""Cards that come to the counter together, again and again.

Two cards are neighbours when they were settled within ``covisit_neighbours`` settlements of
each other at one institution on one day; the basis keeps the pairs that were neighbours on
two days or more. Communities of that graph are read two ways:

* **travelling** (most pairs came together at several institutions): rented cards that a
  collector takes from one counter to the next ("定期轮换用卡"). Each card is a lead, with the
  card that ties the group.
* **sitting** (the pairs came together at one institution): cards billed in one sitting, again
  and again, there: a phantom biller's morning, or patients brought in by the coachload. The
  institution is the lead, with the doctors who billed them.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rxtrace.trace.investigate.findings import Found, limited, sales_of_cards
from rxtrace.trace.investigate.params import LeadParams, RuleHit
from rxtrace.trace.investigate.sql import Sql

__all__ = ["CovisitGroup", "covisit_groups", "rule_covisits"]


@dataclass(frozen=True)
class CovisitGroup:
    """A community of the co-visit graph: its cards, the card that ties it (the most days
    with the others), each card's partners and most days with one of them, whether it
    travels, and the institution most of its pairs came together at."""

    cards: tuple[str, ...]
    tie: str
    partners: dict[str, tuple[str, ...]]
    days: dict[str, int]
    travels: bool
    home: str | None


def covisit_groups(
    edges: Iterable[tuple[str, str, int, int, str | None]], params: LeadParams
) -> list[CovisitGroup]:
    """The groups of at least ``covisit_min_cards`` cards among pairs (card, card, days
    together, institutions they came together at, one of those), strongest pairs only
    (``covisit_min_days``). A group travels when most of its pairs came together at
    ``covisit_min_institutions`` or more.

    Communities rather than whole connected parts: two rings are joined by one honest card that
    happened to stand next to each twice; Louvain's modularity keeps them apart (seeded, so the
    same pairs always give the same groups).

    >>> ring = [(f"C{i}", f"C{j}", 4, 2, f"P{i % 2}") for i in range(6) for j in range(i + 1, 6)]
    >>> [(g.cards, g.tie, g.travels) for g in covisit_groups(ring, LeadParams())]
    [(('C0', 'C1', 'C2', 'C3', 'C4', 'C5'), 'C0', True)]
    >>> covisit_groups([("F1", "F2", 9, 1, "P2"), ("F2", "F3", 9, 1, "P2")], LeadParams())  # a household
    []
    >>> sitting = [(f"C{i}", f"C{j}", 8, 1, "H1") for i in range(9) for j in range(i + 1, 9)]
    >>> [(len(g.cards), g.travels, g.home) for g in covisit_groups(sitting, LeadParams())]
    [(9, False, 'H1')]
    """
    import networkx as nx  # loaded only when co-visits exist: it slows every command's start

    graph = nx.Graph()
    for a, b, together, spanned, inst in sorted(edges, key=lambda e: (e[0], e[1])):
        if together >= params.covisit_min_days:
            graph.add_edge(a, b, days=int(together), insts=int(spanned), inst=inst)
    groups = []
    for members in nx.community.louvain_communities(graph, weight="days", seed=0):
        if len(members) < params.covisit_min_cards:
            continue
        inside = graph.subgraph(members)
        strength = {c: sum(d["days"] for *_, d in inside.edges(c, data=True)) for c in members}
        partners = {c: tuple(sorted(inside.neighbors(c))) for c in members}
        most = {c: max((d["days"] for *_, d in inside.edges(c, data=True)), default=0) for c in members}
        tie = min(members, key=lambda c: (-strength[c], c))
        pairs = [d for *_, d in inside.edges(data=True)]
        # Travelling is a property of the pairs: most of them came together at several
        # institutions. (The group's institutions alone would count one card that also
        # visits a pharmacy with its family as the whole group travelling.)
        travels = statistics.median(d["insts"] for d in pairs) >= params.covisit_min_institutions
        homes = Counter(d["inst"] for d in pairs if d["inst"])
        home = min(homes, key=lambda i: (-homes[i], i)) if homes else None
        groups.append(CovisitGroup(tuple(sorted(members)), tie, partners, most, travels, home))
    groups.sort(key=lambda g: (-len(g.cards), g.cards))
    return groups


def rule_covisits(sql: Sql, params: LeadParams, found: Found, kinds: set[str]) -> None:
    """Travelling groups make card leads; sitting groups make institution leads."""
    edges = sql.rows(
        "SELECT psn_a, psn_b, days, institutions, fixmedins_code FROM lead_basis_covisit WHERE days >= :d",
        {"d": int(params.covisit_min_days)},
    )
    groups = [
        g
        for g in covisit_groups(((a, b, int(d), int(n), i) for a, b, d, n, i in edges), params)
        if ("card" in kinds and g.travels) or ("institution" in kinds and not g.travels)
    ]
    if not groups:
        return
    # The settlements behind: each card's on the days one of its partners settled at the
    # same institution.
    visits: dict[str, dict[tuple[str, int], list[tuple[str, str, str | None]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for sale in sales_of_cards(sql, (c for g in groups for c in g.cards)):
        visits[sale.psn][sale.inst, sale.day].append((sale.setl, sale.med, sale.dr))
    sittings: dict[str, list[CovisitGroup]] = defaultdict(list)
    for group in groups:
        if group.travels:
            _travelling(params, found, group, _together(group, visits))
        elif group.home is not None:
            sittings[group.home].append(group)
    # One institution's sitting groups are one pattern (modularity cuts a big sitting into
    # several communities): judged and shown together.
    for home, parts in sorted(sittings.items()):
        together: _Together = {}
        partners: dict[str, tuple[str, ...]] = {}
        for group in parts:
            together |= _together(group, visits)
            partners |= group.partners
        _sitting(params, found, home, together, partners)


def _together(
    group: CovisitGroup, visits: dict[str, dict[tuple[str, int], list[tuple[str, str, str | None]]]]
) -> _Together:
    return {
        card: [
            (at, sale)
            for at, sales in visits[card].items()
            if any(at in visits[p] for p in group.partners[card])
            for sale in sales
        ]
        for card in group.cards
    }


_Together = dict[str, list[tuple[tuple[str, int], tuple[str, str, str | None]]]]
"""Per card: ((institution, day), (settlement, drug, doctor)) of its sales on days a partner
settled at the same institution."""


def _strength(params: LeadParams, size: int) -> float:
    return min(0.5 + math.log2(size / (params.covisit_min_cards - 1)), 2.0)


def _travelling(params: LeadParams, found: Found, group: CovisitGroup, together: _Together) -> None:
    size = len(group.cards)
    places = sorted({inst for sales in together.values() for (inst, _), _ in sales})
    contribution = params.w_covisit * _strength(params, size)
    for card in group.cards:
        found.add(
            "card",
            card,
            RuleHit(
                "co_visits",
                "Came to the counter with the same cards again and again",
                contribution,
                # No card number in the words: the evidence masks them.
                f"one of {size} cards settled one after another at {len(places)} institutions, "
                f"up to {group.days[card]} days with the same card; "
                f"{len(group.partners[card])} of the group came with it"
                + (" (it ties the group)" if card == group.tie else ""),
                {
                    "group_size": size,
                    "card": group.tie,
                    "ties_group": card == group.tie,
                    "cards": limited(group.partners[card], params),
                    "partners": len(group.partners[card]),
                    "days_together": group.days[card],
                    "institutions": limited(places, params),
                    "institution_count": len(places),
                    "setl_ids": limited((setl for _, (setl, _, _) in together[card]), params),
                },
            ),
        )


def _sitting(
    params: LeadParams,
    found: Found,
    home: str,
    together: _Together,
    partners: dict[str, tuple[str, ...]],
) -> None:
    """An institution whose same cards were billed together, in sittings of at least
    ``sitting_min_cards`` on ``covisit_min_days`` days or more. Households and regulars of a
    small pharmacy come a few at a time; a sitting of ten cards, month after month, is billed."""
    at_home = [
        (day, card, sale) for card, sales in together.items() for (inst, day), sale in sales if inst == home
    ]
    cards_on: dict[int, set[str]] = defaultdict(set)
    for day, card, _ in at_home:
        cards_on[day].add(card)
    days = sorted(day for day, cards in cards_on.items() if len(cards) >= params.sitting_min_cards)
    if len(days) < params.covisit_min_days:
        return
    in_sittings = [(card, sale) for day, card, sale in at_home if day in set(days)]
    cards = sorted({card for card, _ in in_sittings})
    doctors = Counter(dr for _, (_, _, dr) in in_sittings if dr)
    bills: dict[str, set[str]] = defaultdict(set)
    for _, (setl, med, _) in in_sittings:
        bills[setl].add(med)
    baskets = Counter(frozenset(drugs) for drugs in bills.values())
    # Ties by code: most_common() keeps the order the rows came in, which no engine fixes.
    ranked = sorted(doctors, key=lambda dr: (-doctors[dr], dr))
    top = [(dr, doctors[dr]) for dr in ranked[:2]]
    top_share = sum(n for _, n in top) / sum(doctors.values()) if doctors else 0.0
    tie = min(cards, key=lambda c: (-len(partners.get(c, ())), c))
    largest = max(len(cards_on[day]) for day in days)
    found.add(
        "institution",
        home,
        RuleHit(
            "sittings",
            "The same cards billed together again and again",
            params.w_covisit * _strength(params, len(cards)),
            f"{len(cards)} cards billed here in sittings of up to {largest}, one card after "
            f"another, on {len(days)} days, the same cards again and again; {len(bills)} bills "
            f"in {len(baskets)} different baskets"
            + (f"; {top_share:.0%} of them by {len(top)} doctor(s)" if doctors else ""),
            {
                "cards_billed": len(cards),
                "days": len(days),
                "largest_sitting": largest,
                "bills": len(bills),
                "baskets": len(baskets),
                "doctors": ranked[: params.evidence_limit],
                "doctor_count": len(doctors),
                "top_doctors_share": round(top_share, 3),
                "card": tie,
                "cards": limited(cards, params),
                "setl_ids": limited(bills, params),
            },
        ),
    )
