"""Card rules: one card dispensed the same drug at several institutions within a window, and
many small visits for one drug over the period."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rxtrace.trace.investigate.findings import Found, limited, sales_of_cards
from rxtrace.trace.investigate.params import EPOCH, LeadParams, RuleHit
from rxtrace.trace.investigate.sql import Sql

__all__ = ["SmallVisits", "rule_cross_institution", "rule_small_visits", "small_visits"]


def rule_cross_institution(sql: Sql, params: LeadParams, found: Found) -> None:
    """One card collecting the same drug from many institutions, beyond a plausible dose.

    The basis holds every window of ``window_days`` (two grids offset by half a window) in
    which a card got one drug from two institutions or more.
    """
    period = params.window_days * 86400
    half = period // 2
    best: dict[str, Any] = {}
    # Of equal windows, the first by drug, grid and bucket is shown.
    for row in sql.rows(
        "SELECT psn_no AS psn, med_list_codg AS med, grid AS g, bucket AS b, "
        "institutions AS insts, units, typical, plausible "
        "FROM lead_basis_window ORDER BY psn_no, med_list_codg, grid, bucket"
    ):
        rank = (row.insts, row.units or 0)
        if row.psn not in best or rank > (best[row.psn].insts, best[row.psn].units or 0):
            best[row.psn] = row
    if not best:
        return
    # The settlements inside each card's worst window (its returns too), from its sales.
    setls: dict[str, list[str]] = defaultdict(list)
    for sale in sales_of_cards(sql, best, returns=True):
        row = best[sale.psn]
        # Python's // floors where SQL truncates: the same for times after 1970.
        if sale.med == row.med and (sale.at_s + row.g * half) // period == row.b:
            setls[sale.psn].append(sale.setl)
    for psn, row in best.items():
        start = EPOCH + timedelta(seconds=row.b * period - row.g * half)
        span = f"{start:%Y-%m-%d} – {start + timedelta(days=params.window_days):%Y-%m-%d}"
        plausible = None if row.plausible is None else round(float(row.plausible), 1)
        evidence = {
            "drug": row.med,
            "window_start": start.date().isoformat(),
            "window_days": params.window_days,
            "institutions": int(row.insts),
            "units": None if row.units is None else int(row.units),
            "typical_units": None if row.typical is None else round(float(row.typical), 1),
            "plausible_units": plausible,
            "setl_ids": limited(setls[psn], params),
        }
        if row.insts >= params.min_institutions:
            contribution = params.w_cross_institution * min(
                math.log2(row.insts / (params.min_institutions - 1)) + 0.5, 3.0
            )
            found.add(
                "card",
                psn,
                RuleHit(
                    "cross_institution",
                    "Same drug from many institutions",
                    contribution,
                    f"{row.insts} institutions dispensed {row.med} to this card in {span}",
                    evidence,
                ),
            )
        if row.units is not None and plausible and row.units > plausible and row.insts >= 2:
            ratio = row.units / plausible
            contribution = params.w_oversupply * min(0.5 + math.log2(ratio), 3.0)
            found.add(
                "card",
                psn,
                RuleHit(
                    "oversupply",
                    "More than a plausible dose",
                    contribution,
                    f"{row.units} units of {row.med} from {row.insts} institutions in {span}: "
                    f"{ratio:.1f}× the plausible {plausible:g} (at least "
                    f"{params.max_units_per_day:g} a day, or {params.typical_factor:g}× a card's "
                    f"usual {row.typical or 0:.0f} in {params.window_days} days, plus one box)",
                    evidence,
                ),
            )


@dataclass(frozen=True)
class SmallVisits:
    """One card's visits for one drug over the period, beside what a card usually takes."""

    visits: int
    institutions: int
    units: int
    span_days: int
    windows: float
    expected_units: float

    @property
    def ratio(self) -> float:
        return self.units / self.expected_units if self.expected_units > 0 else math.inf

    @property
    def per_window(self) -> float:
        return self.visits / self.windows


def small_visits(
    visits: int,
    institutions: int,
    units: int | None,
    first_day: int,
    last_day: int,
    typical: float | None,
    params: LeadParams,
) -> SmallVisits | None:
    """The many small visits of "每月多次就诊少量配药", or None when the card's visits for a
    drug look like a treatment: fewer than ``small_visits_min_visits`` days with a sale, one
    institution, fewer than ``small_visits_per_month`` visits a window, or less in all than
    ``small_visits_ratio`` times a card's usual quantity per window over the same span.

    A month is no longer than a window: a card seen over ten days is judged as over one.

    >>> p = LeadParams()
    >>> small_visits(30, 3, 840, 0, 299, 28.0, p).ratio  # a box every ten days, ten windows
    3.0
    >>> small_visits(12, 2, 336, 0, 329, 28.0, p) is None  # a box a month: a treatment
    True
    """
    if visits < params.small_visits_min_visits or institutions < 2 or not units or not typical:
        return None
    span = last_day - first_day + 1
    windows = max(span / params.window_days, 1.0)
    seen = SmallVisits(visits, institutions, int(units), span, windows, typical * windows)
    if seen.per_window < params.small_visits_per_month or seen.ratio < params.small_visits_ratio:
        return None
    return seen


def rule_small_visits(sql: Sql, params: LeadParams, found: Found) -> None:
    """Many visits for small quantities of one drug at several institutions, adding up over
    the period to far more than a card usually takes: each window may stay below the plausible
    dose, the year does not."""
    flagged = []
    for psn, med, visits, insts, units, first_day, last_day, typical in sql.rows(
        "SELECT psn_no, med_list_codg, visits, institutions, units, first_day, last_day, typical "
        "FROM lead_basis_visits ORDER BY psn_no, med_list_codg"
    ):
        seen = small_visits(
            int(visits),
            int(insts),
            None if units is None else int(units),
            int(first_day),
            int(last_day),
            None if typical is None else float(typical),
            params,
        )
        if seen is not None:
            flagged.append((psn, med, first_day, last_day, typical, seen))
    setls: dict[tuple[str, str], list[str]] = defaultdict(list)
    if flagged:
        wanted = {(psn, med) for psn, med, *_ in flagged}
        for sale in sales_of_cards(sql, (psn for psn, *_ in flagged)):
            if (sale.psn, sale.med) in wanted:
                setls[sale.psn, sale.med].append(sale.setl)
    for psn, med, first_day, last_day, typical, seen in flagged:
        start = EPOCH + timedelta(days=int(first_day))
        end = EPOCH + timedelta(days=int(last_day))
        found.add(
            "card",
            psn,
            RuleHit(
                "small_visits",
                "Many small visits for one drug",
                params.w_small_visits * min(0.5 + math.log2(seen.ratio / params.small_visits_ratio), 2.0),
                f"{seen.visits} visits for {med} at {seen.institutions} institutions from "
                f"{start:%Y-%m-%d} to {end:%Y-%m-%d} ({seen.per_window:.1f} a {params.window_days}-day "
                f"window): {seen.units} units, {seen.ratio:.1f}× a card's usual "
                f"{float(typical):.0f} a window over the same span",
                {
                    "drug": med,
                    "visits": seen.visits,
                    "institutions": seen.institutions,
                    "units": seen.units,
                    "first_day": start.date().isoformat(),
                    "last_day": end.date().isoformat(),
                    "visits_per_window": round(seen.per_window, 1),
                    "expected_units": round(seen.expected_units, 1),
                    "ratio": round(seen.ratio, 1),
                    "setl_ids": limited(setls[psn, med], params),
                },
            ),
        )
