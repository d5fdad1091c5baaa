"""Drug mixes that do not look like a treatment: cards billed window after window at one
institution for baskets of drugs that do not come back as a patient's treatment does.

A chronic patient gets the same drugs again and again; a card billed for baskets nobody
collected gets whatever the biller drew that month. One such card is an ordinary patient with
varied complaints, so the rule weighs an institution's such cards against its peers' (with a
floor: a share of any institution's patients come back with different complaints), and a card
is a lead only at an institution that fired. The basis keeps the (card, institution) pairs
(:func:`rxtrace.trace.investigate.basis._build_mix`); the few cards of a fired institution
are read through the card index for their evidence.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from rxtrace.trace.investigate.findings import (
    Found,
    drug_names,
    institution_figures,
    limited,
    rate_hit,
    sales_of_cards,
    surprise_gate,
)
from rxtrace.trace.investigate.params import LeadParams, RuleHit
from rxtrace.trace.investigate.rules_institutions import shape_tests
from rxtrace.trace.investigate.sql import Sql

__all__ = ["rule_no_treatment"]


def rule_no_treatment(sql: Sql, params: LeadParams, found: Found, kinds: set[str]) -> None:
    """Institutions with far more cards billed baskets that are no treatment than their peers
    (``no_treatment_at``), and those cards there (``no_treatment``)."""
    per_inst = institution_figures(sql)
    mixes = sql.rows(
        "SELECT psn_no AS psn, fixmedins_code AS inst, windows, baskets, drugs, lines, core_lines "
        "FROM lead_basis_mix ORDER BY fixmedins_code, psn_no"
    )
    if not per_inst or not mixes:
        return
    events = Counter(r.inst for r in mixes if r.inst in per_inst)
    fired = shape_tests(
        per_inst,
        {inst: float(n) for inst, n in events.items()},
        {inst: float(r.cards) for inst, r in per_inst.items()},
        params,
        floor=params.no_treatment_floor,
    )
    if not fired:
        return
    cards = [r for r in mixes if r.inst in fired]
    # The drugs and settlements behind: the fired institutions' such cards only.
    wanted = {(r.psn, r.inst) for r in cards}
    given: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    setls: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sale in sales_of_cards(sql, {r.psn for r in cards}):
        if (sale.psn, sale.inst) in wanted:
            given[sale.psn, sale.inst][sale.med] += 1
            setls[sale.psn, sale.inst].append(sale.setl)
    names = drug_names(sql, {med for drugs in given.values() for med in drugs})
    gate = surprise_gate(params, len(per_inst))
    for inst, test in sorted(fired.items()):
        own = [r for r in cards if r.inst == inst]
        drugs = Counter[str]()
        for r in own:
            drugs.update(given[r.psn, inst].keys())
        # Ties by code: most_common() keeps the order the rows came in, which no engine fixes.
        common = sorted(drugs, key=lambda med: (-drugs[med], med))[: params.evidence_limit]
        hit = rate_hit(
            "no_treatment_at",
            "Cards billed baskets that are no treatment",
            params.w_no_treatment,
            test,
            gate,
            min_rr=params.min_rr_shape,
            what=(
                f"cards given baskets in {params.no_treatment_min_windows} windows or more, their "
                f"drugs not coming back as a treatment's ({', '.join(names[m] for m in common[:5])}, ...)"
            ),
            extra={
                "kind": per_inst[inst].kind,
                "min_windows": params.no_treatment_min_windows,
                "floor": params.no_treatment_floor,
                "drugs": common,
                "cards": limited((r.psn for r in own), params),
            },
            setl_ids=limited((s for r in own for s in setls[r.psn, inst]), params),
        )
        if hit is not None and "institution" in kinds:
            found.add("institution", inst, hit)
        if hit is None or "card" not in kinds:
            continue
        for r in own:
            _card_hit(params, found, r, test.relative_risk, given[r.psn, inst], names, setls[r.psn, inst])


def _card_hit(
    params: LeadParams,
    found: Found,
    row: Any,
    relative_risk: float,
    drugs: Counter[str],
    names: dict[str, str],
    setls: list[str],
) -> None:
    core_share = int(row.core_lines) / int(row.lines) if row.lines else 0.0
    shown = sorted(drugs, key=lambda med: (-drugs[med], med))[: params.evidence_limit]
    # Half the weight at the fewest windows, a quarter more for each window beyond: the longer
    # the run of baskets, the less it looks like a few visits for varied complaints.
    extra = int(row.baskets) - params.no_treatment_min_windows
    contribution = params.w_no_treatment * min(0.5 + 0.25 * extra, 1.5)
    found.add(
        "card",
        row.psn,
        RuleHit(
            "no_treatment",
            "Drug mix that does not look like a treatment",
            contribution,
            f"baskets in {row.baskets} of its {row.windows} {params.window_days}-day windows at "
            f"{row.inst}: {row.drugs} different drugs ({', '.join(names.get(m, m) for m in shown)}), "
            f"only {core_share:.0%} of them a drug given in most windows, as a treatment's would be; "
            f"the institution bills such cards {relative_risk:.1f}× as often as its peers",
            {
                "institution": row.inst,
                "windows": int(row.windows),
                "window_days": params.window_days,
                "baskets": int(row.baskets),
                "drug_count": int(row.drugs),
                "drugs": shown,
                "core_share": round(core_share, 3),
                "core_percent": math.floor(100 * core_share),
                "relative_risk": round(relative_risk, 2),
                "setl_ids": limited(setls, params),
            },
        ),
    )
