"""Doctor rules from sales alone: the fund's share of a doctor's own bills, and bursts of
settlements to different cards faster than any consultation."""

from __future__ import annotations

from rxtrace.trace.investigate.findings import (
    Found,
    doctor_figures,
    institution_figures,
    loo_rate,
    rate_hit,
    surprise_gate,
)
from rxtrace.trace.investigate.params import LeadParams
from rxtrace.trace.investigate.rules_institutions import fund_share_hit, fund_share_outliers
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.investigate.stats import rate_test

__all__ = ["rule_doctor_bursts", "rule_doctor_fund_share"]


def rule_doctor_fund_share(sql: Sql, params: LeadParams, found: Found) -> set[str]:
    """A doctor whose own bills the fund paid a far larger share of than other doctors' at
    institutions of the same kind (the rule of :func:`fund_share_outliers`, doctors as the
    peers). Returns the doctors that fired: their own excess is the stronger evidence, so they
    are not also found as billed at an institution that fired."""
    kinds = {inst: figures.kind for inst, figures in institution_figures(sql).items()}
    figures = {
        dr: (None if f.institution is None else kinds.get(f.institution), f.fund_fen, f.billed_fen)
        for dr, f in doctor_figures(sql).items()
    }
    fired = fund_share_outliers(figures, params)
    for dr, seen in fired.items():
        _, fund, billed = figures[dr]
        peers = f"{seen.peers} doctors at {seen.kind or 'all'} institutions"
        found.add(
            "doctor",
            dr,
            fund_share_hit(seen, fund, billed, params, billed_what="this doctor billed", peers=peers),
        )
    return set(fired)


def rule_doctor_bursts(sql: Sql, params: LeadParams, found: Found) -> None:
    """Many cards billed by one doctor in bursts: settlements to another card within
    ``burst_seconds`` of the doctor's previous one, at a rate far above other doctors'
    (leave-one-out, shrunk, gated for the number of doctors tested, as every rate rule)."""
    rows = [(dr, f.setls, f.bursts) for dr, f in doctor_figures(sql).items()]
    k_all = sum(b for _, _, b in rows)
    n_all = sum(n for _, n, _ in rows)
    gate = surprise_gate(params, len(rows))
    for dr, setls, bursts in rows:
        if bursts <= 0:
            continue
        test = rate_test(bursts, setls, loo_rate(k_all, n_all, bursts, setls), prior=params.prior_events)
        hit = rate_hit(
            "bursts",
            "Cards billed in bursts",
            params.w_bursts,
            test,
            gate,
            min_rr=params.min_rr_shape,
            what=f"settlements to another card within {params.burst_seconds} s of the last",
            extra={"settlements": setls, "burst_seconds": params.burst_seconds},
        )
        if hit is not None:
            found.add("doctor", dr, hit)
