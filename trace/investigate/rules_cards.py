"""Card rules: one card dispensed the same drug at several institutions within a window."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta
from typing import Any

from rxtrace.trace.investigate.basis import (
    INS,
)
from rxtrace.trace.investigate.findings import Found, limited
from rxtrace.trace.investigate.params import EPOCH, LeadParams, RuleHit
from rxtrace.trace.investigate.sql import Sql

__all__ = ["rule_cross_institution"]


def rule_cross_institution(sql: Sql, params: LeadParams, found: Found) -> None:
    """One card collecting the same drug from many institutions, beyond a plausible dose.

    The basis holds every window of ``window_days`` (two grids offset by half a window) in
    which a card got one drug from two institutions or more.
    """
    period = params.window_days * 86400
    half = period // 2
    epoch = sql.epoch("d.sel_retn_time")
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
    # The settlements inside each card's worst window, through the card index.
    setls: dict[str, list[str]] = defaultdict(list)
    window_rows = sql.rows(
        f"SELECT w.psn_no, w.med_list_codg, w.grid, w.bucket, d.setl_id "
        f"FROM lead_basis_window w CROSS JOIN dispensing d "
        f"WHERE d.psn_no = w.psn_no AND d.med_list_codg = w.med_list_codg "
        f"AND {INS} AND ({epoch} + w.grid * {half}) / {period} = w.bucket"
    )
    for psn, med, g, b, setl in window_rows:
        row = best.get(psn)
        if row is not None and (row.med, row.g, row.b) == (med, g, b):
            setls[psn].append(setl)
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
