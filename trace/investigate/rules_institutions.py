"""Institution rules: settlement shapes of phantom billing, against the institution's peers."""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from rxtrace.trace.investigate.basis import (
    INS,
    SAME_BILL,
    fill_settlements,
    settlements,
)
from rxtrace.trace.investigate.findings import (
    Found,
    InstitutionFigures,
    fill_evidence,
    institution_figures,
    loo_rate,
    rate_hit,
    surprise_gate,
)
from rxtrace.trace.investigate.params import MIN_OWN_PAIRS, MIN_PEER_EXPOSURE, LeadParams, RateTest, RuleHit
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.investigate.stats import rate_test

__all__ = [
    "FundShare",
    "fund_share_hit",
    "fund_share_outliers",
    "rule_fund_share",
    "rule_institution_shape",
    "shape_tests",
]


def rule_institution_shape(sql: Sql, params: LeadParams, found: Found) -> None:
    """Phantom billing shows in the shape of an institution's sales, whatever its size:
    boxes per card-day (a visit), settlements without a visit number (or one shared by several
    cards), most cards getting the very same basket, and identical bills to different cards
    minutes apart.
    """
    per_inst = institution_figures(sql)
    if not per_inst:
        return
    tested = len(per_inst)
    gate = surprise_gate(params, tested)

    def evidence_of(insts: Iterable[str], pairs_sql: str) -> dict[str, tuple[int, list[str]]]:
        """The settlements behind the institutions that fired, from a query of columns e, s
        over ``rxtrace_lead_setl s`` (their settlements only, read through the institution
        index)."""
        setls: dict[str, tuple[int, list[str]]] = {i: (0, []) for i in insts}
        if setls:
            sql.empty_temp("rxtrace_lead_fired", "inst TEXT PRIMARY KEY")
            sql.fill("rxtrace_lead_fired", ("inst",), [{"inst": i} for i in sorted(setls)])
            fill_settlements(sql, only="rxtrace_lead_fired")
            fill_evidence(sql, setls, params, pairs_sql)
        return setls

    def test_all(
        rule: str,
        title: str,
        weight: float,
        events: Mapping[str, float],
        exposure: Mapping[str, float],
        what: str,
        evidence_sql: str | None,
        floor: float = 0.0,
    ) -> None:
        fired = shape_tests(per_inst, events, exposure, params, floor=floor)
        setls: dict[str, tuple[int, list[str]]] = {i: (0, []) for i in fired}
        if fired and evidence_sql:
            setls = evidence_of(fired, evidence_sql)
        for inst, test in fired.items():
            hit = rate_hit(
                rule,
                title,
                weight,
                test,
                gate,
                min_rr=params.min_rr_shape,
                what=what,
                setl_ids=setls[inst][1],
                extra={"kind": per_inst[inst].kind},
            )
            if hit is not None:
                found.add("institution", inst, hit)

    fired_only = "s.inst IN (SELECT inst FROM rxtrace_lead_fired)"

    # Per card-day, not per card: a big hospital sees the same patients again and again, so
    # its boxes per card grow with its size; what one visit takes away does not.
    test_all(
        "boxes_per_card",
        "Boxes per card-day far above peers",
        params.w_boxes_per_card,
        {i: float(r.boxes) for i, r in per_inst.items()},
        {i: float(r.card_days or 1) for i, r in per_inst.items()},
        "boxes (per card-day)",
        None,
    )

    shared_visit = (
        "SELECT inst, sn FROM rxtrace_lead_setl WHERE sn IS NOT NULL AND sn <> '' {only}"
        "GROUP BY inst, sn HAVING MIN(psn) <> MAX(psn)"
    )
    bad_visits = {i: float(r.no_visit + r.shared_visit) for i, r in per_inst.items()}
    test_all(
        "visit_ids",
        "Settlements without a real visit number",
        params.w_visit_ids,
        bad_visits,
        {i: float(r.setls) for i, r in per_inst.items()},
        "settlements with no visit number or one shared by several cards",
        f"SELECT s.inst AS e, s.setl_id AS s FROM rxtrace_lead_setl s LEFT JOIN ("
        f"{shared_visit.format(only='AND inst IN (SELECT inst FROM rxtrace_lead_fired) ')}"
        f") r ON r.inst = s.inst AND r.sn = s.sn "
        f"WHERE {fired_only} AND (s.sn IS NULL OR s.sn = '' OR r.sn IS NOT NULL)",
    )

    # The modal basket (number of drugs, first drug, last drug, boxes) stands for the basket;
    # only baskets of two drugs or more count, since one popular drug is normal anywhere. The
    # basis keeps each institution's own; its settlements are matched against it there.
    test_all(
        "modal_basket",
        "Many cards getting the very same drugs",
        params.w_modal_basket,
        {i: float(r.modal_cards) for i, r in per_inst.items() if r.modal is not None},
        {i: float(r.cards) for i, r in per_inst.items()},
        "cards given the same multi-drug basket",
        "SELECT s.inst AS e, s.setl_id AS s FROM rxtrace_lead_setl s "
        "JOIN lead_basis_institution m ON m.fixmedins_code = s.inst "
        "AND m.modal_ndrug = s.ndrug AND m.modal_dmin = s.dmin AND m.modal_dmax = s.dmax "
        f"AND m.modal_boxes = s.boxes WHERE {fired_only}",
        floor=params.modal_floor,
    )

    # Identical bills to different cards minutes apart. A busy counter serves the next card
    # within minutes all day, so the baseline is the institution's own: how often a bill is
    # identical to the previous one when the two are *not* minutes apart (its drug mix). Only
    # when it has too few such pairs do its peers' rates stand in.
    pairs = {i: r for i, r in per_inst.items() if r.short + r.long > 0}
    same_k: dict[str | None, float] = defaultdict(float)
    same_n: dict[str | None, float] = defaultdict(float)
    for r in pairs.values():
        same_k[r.kind] += float(r.short_same + r.long_same)
        same_n[r.kind] += float(r.short + r.long)
    bunched: dict[str, RateTest] = {}
    for inst, r in pairs.items():
        k, n = r.short_same, float(r.short)
        if k <= 0:
            continue
        own_k, own_n = float(r.short_same + r.long_same), float(r.short + r.long)
        if r.long >= MIN_OWN_PAIRS:
            rate = float(r.long_same) / float(r.long)
        elif same_n[r.kind] - own_n >= MIN_PEER_EXPOSURE:
            rate = loo_rate(same_k[r.kind], same_n[r.kind], own_k, own_n)
        else:
            rate = loo_rate(sum(same_k.values()), sum(same_n.values()), own_k, own_n)
        test = rate_test(k, n, rate, prior=params.prior_events)
        if test.surprise >= gate and test.relative_risk >= params.min_rr_shape:
            bunched[inst] = test
    if bunched:
        setls = evidence_of(
            bunched,
            (
                f"SELECT s.inst AS e, s.setl_id AS s FROM {settlements(sql)} "
                f"WHERE {fired_only} AND s.prev_t IS NOT NULL AND s.prev_psn <> s.psn "
                f"AND s.t - s.prev_t <= {int(params.bunch_seconds)} AND {SAME_BILL}"
            ),
        )
        for inst, test in bunched.items():
            hit = rate_hit(
                "bunched",
                "Identical bills to different cards minutes apart",
                params.w_bunched,
                test,
                gate,
                min_rr=params.min_rr_shape,
                what=f"bills identical to the previous one (another card, within "
                f"{params.bunch_seconds} s), against its own rate of identical bills "
                f"further apart",
                extra={"kind": per_inst[inst].kind},
                setl_ids=setls[inst][1],
            )
            if hit is not None:
                found.add("institution", inst, hit)


def shape_tests(
    per_inst: Mapping[str, InstitutionFigures],
    events: Mapping[str, float],
    exposure: Mapping[str, float],
    params: LeadParams,
    *,
    floor: float = 0.0,
) -> dict[str, RateTest]:
    """The institutions whose events are both unlikely and at least ``min_rr_shape`` times
    what their peers' rate (or ``floor``, when higher) gives for their exposure.

    Peers are everyone else of the same kind (hospital, clinic, pharmacy), or everyone else
    when the kind has too little volume besides the institution itself.
    """
    gate = surprise_gate(params, len(per_inst))
    kind_k: dict[str | None, float] = defaultdict(float)
    kind_n: dict[str | None, float] = defaultdict(float)
    for inst, row in per_inst.items():
        kind_k[row.kind] += events.get(inst, 0.0)
        kind_n[row.kind] += exposure[inst]
    all_k, all_n = sum(kind_k.values()), sum(kind_n.values())
    fired: dict[str, RateTest] = {}
    for inst in per_inst:
        k = int(events.get(inst, 0))
        if k <= 0:
            continue
        kind, n = per_inst[inst].kind, exposure[inst]
        if kind_n[kind] - n >= MIN_PEER_EXPOSURE:
            rate = loo_rate(kind_k[kind], kind_n[kind], k, n)
        else:
            rate = loo_rate(all_k, all_n, k, n)
        test = rate_test(k, n, max(rate, floor), prior=params.prior_events)
        if test.surprise >= gate and test.relative_risk >= params.min_rr_shape:
            fired[inst] = test
    return fired


# Robust spread of a normal sample: 1.4826 × the median absolute deviation; floored at one
# point, since honest institutions that all bill at one tariff share have no spread at all.
_MAD_SCALE = 1.4826
_MIN_SPREAD = 0.01
_MIN_PEERS = 5


@dataclass(frozen=True)
class FundShare:
    """An institution's fund share beside its peers'."""

    kind: str | None
    share: float
    shrunk: float
    peers: int
    median: float
    q1: float
    q3: float
    spreads: float

    def evidence(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fund_share": round(self.share, 4),
            "fund_percent": round(100 * self.share),
            "shrunk_share": round(self.shrunk, 4),
            "peers": self.peers,
            "peers_median": round(self.median, 4),
            "peers_percent": round(100 * self.median),
            "peers_q1": round(self.q1, 4),
            "peers_q3": round(self.q3, 4),
            "spreads": round(self.spreads, 1),
        }


def fund_share_outliers(
    figures: Mapping[str, tuple[str | None, int, int]], params: LeadParams
) -> dict[str, FundShare]:
    """Institutions whose fund paid a far larger share of what they billed than their peers'.

    ``figures`` maps an institution to (kind, fund paid, billed) in fen. Each is judged
    against the other institutions of its kind (all others when its kind has fewer than five
    with enough billing): its share, pulled towards the peers' median by one
    ``fund_share_min_billed_fen`` of billing at that share (so a small institution needs more
    evidence), must exceed the median by ``fund_share_gap`` and by ``fund_share_spreads``
    of the peers' spread.

    >>> peers = {f"P{i}": ("pharmacy", 750_000 + 1_000 * i, 1_000_000) for i in range(9)}
    >>> sorted(fund_share_outliers({**peers, "X": ("pharmacy", 970_000, 1_000_000)}, LeadParams()))
    ['X']
    >>> fund_share_outliers({**peers, "Y": ("pharmacy", 9_700, 10_000)}, LeadParams())  # too little
    {}
    """
    shares = {
        inst: (kind, fund / billed, billed)
        for inst, (kind, fund, billed) in figures.items()
        if billed >= params.fund_share_min_billed_fen
    }
    by_kind: dict[str | None, list[float]] = defaultdict(list)
    for kind, share, _ in shares.values():
        by_kind[kind].append(share)
    everyone = _Peers(s for _, s, _ in shares.values())
    groups = {kind: _Peers(values) for kind, values in by_kind.items()}
    out: dict[str, FundShare] = {}
    for inst, (kind, share, billed) in shares.items():
        group = groups[kind] if len(groups[kind]) - 1 >= _MIN_PEERS else everyone
        if len(group) - 1 < _MIN_PEERS:
            continue
        median, spread, others = group.without(share)
        prior = params.fund_share_min_billed_fen
        shrunk = (share * billed + median * prior) / (billed + prior)
        gap = shrunk - median
        if gap >= params.fund_share_gap and gap / spread >= params.fund_share_spreads:
            q1, _, q3 = statistics.quantiles(others(), n=4)
            out[inst] = FundShare(kind, share, shrunk, len(group) - 1, median, q1, q3, gap / spread)
    return out


class _Peers:
    """One peer group's shares, sorted once: the middle and spread of everyone but one.

    Exact (leave-one-out) up to ``_EXACT`` members; beyond, the middle is still exact (read off
    the sorted list) and the spread is the whole group's, which one member moves by a 1/n-th
    at most. Ten thousand doctors are then judged in a moment instead of 10^8 steps.
    """

    _EXACT = 50

    def __init__(self, values: Iterable[float]) -> None:
        self.sorted = sorted(values)
        self._spread: float | None = None

    def __len__(self) -> int:
        return len(self.sorted)

    def without(self, share: float) -> tuple[float, float, Callable[[], list[float]]]:
        """(middle, spread, the shares) of the group without one member of ``share``; the
        shares as a call, since only a member that stands out needs them."""
        values = self.sorted
        i = bisect.bisect_left(values, share)

        def peers() -> list[float]:
            return values[:i] + values[i + 1 :]

        def at(k: int) -> float:  # the k-th of the others, in order
            return values[k] if k < i else values[k + 1]

        m = len(values) - 1
        median = at(m // 2) if m % 2 else (at(m // 2 - 1) + at(m // 2)) / 2
        if len(values) <= self._EXACT:
            return median, _spread(peers(), median), peers
        if self._spread is None:
            self._spread = _spread(values, statistics.median(values))
        return median, self._spread, peers


def _spread(values: Sequence[float], median: float) -> float:
    return max(_MAD_SCALE * statistics.median(abs(v - median) for v in values), _MIN_SPREAD)


def rule_fund_share(sql: Sql, params: LeadParams, found: Found, *, own: Set[str] = frozenset()) -> None:
    """The fund paid far more of what an institution billed than it pays its peers: the
    insurance bureau's own screen for phantom billing ("对外收款金额与医保报销比例严重异常").
    Works from sales alone, before any seizure. ``own``: doctors already found by their own
    fund share, not found again as billed there."""
    per_inst = institution_figures(sql)
    figures = {i: (r.kind, r.fund_fen, r.billed_fen) for i, r in per_inst.items()}
    for inst, seen in fund_share_outliers(figures, params).items():
        fund, billed = per_inst[inst].fund_fen, per_inst[inst].billed_fen
        peers = f"{seen.peers} peers ({seen.kind or 'all kinds'})"
        found.add(
            "institution", inst, fund_share_hit(seen, fund, billed, params, billed_what="billed", peers=peers)
        )
        _billed_through(sql, params, found, inst, seen, own)


def fund_share_hit(
    seen: FundShare, fund: int, billed: int, params: LeadParams, *, billed_what: str, peers: str
) -> RuleHit:
    """The ``fund_share`` hit of an institution or a doctor whose own share stands out."""
    return RuleHit(
        "fund_share",
        "Fund paid far more of the bills than at peers",
        params.w_fund_share * min((seen.shrunk - seen.median) / params.fund_share_gap, 3.0),
        f"the fund paid {seen.share:.0%} of the {billed / 100:,.0f} yuan {billed_what}; at "
        f"{peers} the middle share is {seen.median:.0%} (middle half {seen.q1:.0%}–{seen.q3:.0%})",
        {
            **seen.evidence(),
            "fund_yuan": round(fund / 100, 2),
            "billed_yuan": round(billed / 100, 2),
            "setl_ids": [],
        },
    )


def _billed_through(
    sql: Sql, params: LeadParams, found: Found, inst: str, seen: FundShare, own: Set[str]
) -> None:
    """The cards and doctors whose own bills at an institution that fired carry the same
    excess: the fund paid at least ``fund_share_gap`` more of them than the peers' median,
    on two settlements or more. Read through the institution index: one institution's rows."""
    parties: dict[tuple[str, str], list[int]] = {}  # (kind, id) -> [fund, billed_e4, settlements]
    for psn, dr, fund, billed_e4, setls in sql.rows(
        f"SELECT d.psn_no, d.dr_code, "
        f"SUM(CASE WHEN d.finl_trns_pric_e4 IS NULL THEN 0 ELSE d.hifp_pay_fen END), "
        f"SUM(COALESCE(d.finl_trns_pric_e4, 0) * d.sel_retn_cnt), COUNT(DISTINCT d.setl_id) "
        f"FROM dispensing d WHERE d.fixmedins_code = :inst AND {INS} AND d.sel_retn_cnt > 0 "
        f"GROUP BY d.psn_no, d.dr_code",
        {"inst": inst},
    ):
        for key in (("card", psn), ("doctor", dr)):
            if key[1]:
                sums = parties.setdefault(key, [0, 0, 0])
                sums[0] += int(fund or 0)
                sums[1] += int(billed_e4 or 0)
                sums[2] += int(setls)
    for (kind, ident), (fund, billed_e4, setls) in sorted(parties.items()):
        if billed_e4 <= 0 or setls < 2 or (kind == "doctor" and ident in own):
            continue
        share = fund * 100 / billed_e4
        gap = share - seen.median
        if gap < params.fund_share_gap:
            continue
        found.add(
            kind,
            ident,
            RuleHit(
                "fund_share_billed",
                "Billed at an institution whose fund share is far above peers",
                # Evidence drawn from the institution's lead: it weighs less than a card's or
                # doctor's own excess (at most three quarters of the weight).
                params.w_fund_share * 0.5 * min(gap / params.fund_share_gap, 1.5),
                f"{setls} settlements at {inst}, the fund paying {share:.0%} of them where "
                f"{seen.kind or 'its'} peers' middle share is {seen.median:.0%}",
                {
                    "institution": inst,
                    "settlements": setls,
                    "fund_share": round(share, 4),
                    "fund_percent": round(100 * share),
                    "peers_percent": round(100 * seen.median),
                    "fund_yuan": round(fund / 100, 2),
                    "setl_ids": [],
                },
            ),
        )
