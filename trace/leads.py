"""Leads: which cards, institutions, doctors and codes deserve an investigator's time.

What every rule needs from all sales (settlements per institution, card windows, rows per card
and per doctor, codes on several rows) is summed up once per state of the data in the leads'
basis (:mod:`rxtrace.trace.lead_basis`, set-based SQL over ``dispensing``), so the analysis runs
on tens of millions of sales; a run reads the basis, and Python only touches the rows already
singled out (a resold code's sales, a seized box's sales, an institution's settlements once it
fired) and per-entity totals.

How a rule scores
-----------------
Rules about a *rate* (the share of an institution's sales found in seizures, its settlements
without a visit number, ...) compare what was observed, ``k`` events among ``n``, with what
the entity's peers would produce at their rate ``p`` (leave-one-out: an entity is never its own
baseline), ``λ = n·p``:

* **surprise** ``-log10 P(X ≥ k)`` with ``X ~ Poisson(λ)``: how unlikely the excess is by
  chance. A rule fires only when the surprise beats ``min_surprise + log10(m)`` for ``m``
  entities tested, so scanning ten thousand pharmacies does not raise ten false leads.
* **shrunk relative risk** ``(k + a) / (λ + a)`` (a gamma prior of ``a`` pseudo-events at the
  peers' rate): how large the excess is, pulled towards 1 when the evidence is thin. The rule
  contributes ``weight × min(log2(rr), 4)``.

A big hospital at its peers' rate has ``rr ≈ 1`` whatever its size, so size alone is never a
lead; a small clinic with one unlucky box is held back by the shrinkage and the gate.

Rules about *events* (a code settled twice, a code on two drugs) fire on any occurrence: the
national practice is that a code settled twice is a lead in itself.

A lead's score is the sum of its rules' contributions, each shown with its figures and the
``setl_id`` values behind it.
"""

from __future__ import annotations

import getpass
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace import models
from rxtrace.trace.codes import parse_code
from rxtrace.trace.errors import ConflictError, NotFoundError, ParseError, RxtraceError
from rxtrace.trace.lead_basis import (
    INS,
    SAME_BILL,
    Sql,
    catalog_products,
    ensure_basis,
    fill_settlements,
    fill_units,
    settlements,
)
from rxtrace.trace.protect import mask_id
from rxtrace.trace.resolution import fen_to_yuan

__all__ = [
    "KINDS",
    "STATUSES",
    "TRANSITIONS",
    "Lead",
    "LeadEvent",
    "LeadParams",
    "RateTest",
    "RuleHit",
    "StoredLead",
    "change_status",
    "default_user",
    "find_leads",
    "lead_history",
    "poisson_surprise",
    "rate_test",
    "save_leads",
]

KINDS = ("card", "institution", "doctor", "code")
STATUSES = ("new", "investigating", "escalated", "closed")
# As in the EU verification system's alert handling: an alert is looked into before it is
# escalated, and a closed one may be reopened (with a reason) when new evidence comes in.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"investigating", "closed"}),
    "investigating": frozenset({"escalated", "closed"}),
    "escalated": frozenset({"investigating", "closed"}),
    "closed": frozenset({"investigating"}),
}
_SYSTEM = "rxtrace"
_EPOCH = datetime(1970, 1, 1)
_MAX_DEPTH = 6
_MIN_PEER_EXPOSURE = 100.0
_MIN_OWN_PAIRS = 30


@dataclass(frozen=True)
class LeadParams:
    """Every threshold the analysis uses; printed in the dossier with its results."""

    window_days: int = 30
    # Most tablets are taken at most three a day; some drugs go by ten pills a dose, so the
    # plausible quantity of a drug is also at least ``typical_factor`` times what a card
    # usually takes of it in a window (the data's own dose), plus the last box bought.
    max_units_per_day: float = 3.0
    typical_factor: float = 3.0
    min_institutions: int = 3
    bunch_seconds: int = 120
    prior_events: float = 2.0
    min_surprise: float = 2.0
    min_log2_rr: float = 0.5
    # Volume-shape rules need a doubling: honest institutions differ by tens of percent.
    min_rr_shape: float = 2.0
    # A standard prescription may legitimately go to this share of an institution's cards.
    modal_floor: float = 0.1
    evidence_limit: int = 20
    w_resold: float = 3.0
    w_clone: float = 3.0
    w_seized: float = 2.0
    w_cross_institution: float = 1.5
    w_oversupply: float = 1.0
    w_seized_share: float = 2.0
    w_boxes_per_card: float = 1.0
    w_visit_ids: float = 1.0
    w_modal_basket: float = 1.0
    w_bunched: float = 1.0
    w_seized_cards: float = 1.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RateTest:
    """``k`` events among ``n`` against the peers' rate: surprise and shrunk relative risk."""

    observed: int
    exposure: float
    expected: float
    surprise: float
    relative_risk: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "exposure": self.exposure,
            "expected": round(self.expected, 4),
            "surprise": round(self.surprise, 2),
            "relative_risk": round(self.relative_risk, 3),
        }


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired for a lead: its share of the score, why, and the evidence."""

    rule: str
    title: str
    contribution: float
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "contribution": round(self.contribution, 3),
            "detail": self.detail,
            "evidence": _masked(self.evidence, reveal),
        }


@dataclass(frozen=True)
class Lead:
    kind: str
    id: str
    name: str | None
    rules: tuple[RuleHit, ...]

    @property
    def score(self) -> float:
        return round(sum(r.contribution for r in self.rules), 3)

    @property
    def setl_ids(self) -> list[str]:
        found: set[str] = set()
        for rule in self.rules:
            found.update(rule.evidence.get("setl_ids", ()))
        return sorted(found)

    @property
    def evidence(self) -> dict[str, Any]:
        """The rules' evidence merged: every figure by rule, and all the settlements behind."""
        merged: dict[str, Any] = {r.rule: {k: v for k, v in r.evidence.items() if k != "setl_ids"}
                                  for r in self.rules}
        merged["setl_ids"] = self.setl_ids
        return merged

    def display_id(self, *, reveal: bool = False) -> str:
        return self.id if reveal or self.kind != "card" else mask_id(self.id)

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.display_id(reveal=reveal),
            "name": self.name,
            "score": self.score,
            "rules": [r.to_dict(reveal=reveal) for r in self.rules],
            "evidence": _masked(self.evidence, reveal),
        }


def _masked(value: Any, reveal: bool) -> Any:
    """Card numbers inside evidence are masked like everywhere else."""
    if reveal:
        return value
    if isinstance(value, Mapping):
        return {k: ([mask_id(c) for c in v] if k == "cards" and isinstance(v, list | tuple)
                    else mask_id(v) if k == "card" and isinstance(v, str)
                    else _masked(v, reveal))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, reveal) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Statistics

def _log_gamma_p(a: float, x: float) -> float:
    """log of the regularised lower incomplete gamma function P(a, x), a > 0, x > 0."""
    if x < a + 1.0:
        # Series: converges fast below the mode.
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if term < total * 1e-15:
                break
        return -x + a * math.log(x) - math.lgamma(a) + math.log(total)
    # Continued fraction for Q = 1 - P (Lentz), then P = 1 - Q: P is large here, no underflow.
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    q = math.exp(-x + a * math.log(x) - math.lgamma(a)) * h
    return math.log1p(-min(q, 1.0 - 1e-16))


def poisson_surprise(k: int, lam: float) -> float:
    """``-log10 P(X >= k)`` for ``X ~ Poisson(lam)``: 0 when nothing is unusual.

    >>> round(poisson_surprise(1, 0.01), 2)
    2.0
    >>> poisson_surprise(0, 5.0)
    0.0
    """
    if k <= 0:
        return 0.0
    if lam <= 0:
        return 300.0
    return min(300.0, -_log_gamma_p(float(k), lam) / math.log(10))


def rate_test(k: int, n: float, rate: float, *, prior: float = 2.0) -> RateTest:
    """Compare ``k`` events among ``n`` with a peer ``rate``.

    >>> t = rate_test(20, 200, 0.001)
    >>> t.surprise > 30, round(t.relative_risk, 1)
    (True, 10.0)
    >>> rate_test(1000, 1_000_000, 0.001).relative_risk
    1.0
    """
    lam = max(n * rate, 0.0)
    return RateTest(k, n, lam, poisson_surprise(k, lam), (k + prior) / (lam + prior))


# ---------------------------------------------------------------------------------------------
# Collecting findings


@dataclass
class _Found:
    """Rule hits per (kind, entity) while the analysis runs, and names to show."""

    hits: dict[tuple[str, str], list[RuleHit]] = field(default_factory=lambda: defaultdict(list))
    names: dict[tuple[str, str], str | None] = field(default_factory=dict)
    # A code is found by its stored key halves; it is shown by its key text.
    code_ids: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, ident: str, hit: RuleHit) -> None:
        self.hits[(kind, ident)].append(hit)


def _gate(params: LeadParams, tested: int) -> float:
    return params.min_surprise + math.log10(max(tested, 1))


def _rate_hit(
    rule: str, title: str, weight: float, test: RateTest, gate: float, *,
    min_rr: float, what: str, extra: Mapping[str, Any] | None = None,
    setl_ids: Sequence[str] = (),
) -> RuleHit | None:
    """A rate rule's hit, or None when the excess is not both unlikely and large."""
    log_rr = math.log2(test.relative_risk) if test.relative_risk > 0 else 0.0
    if test.observed <= 0 or test.surprise < gate or test.relative_risk < min_rr:
        return None
    contribution = weight * min(log_rr, 4.0)
    if contribution <= 0:
        return None
    detail = (f"{test.observed} {what} where {test.expected:.2f} were expected at the peers' rate "
              f"(chance 1 in 10^{test.surprise:.1f}); shrunk relative risk "
              f"{test.relative_risk:.2f} × weight {weight} → {contribution:.2f}")
    evidence: dict[str, Any] = {**test.to_dict(), **(extra or {})}
    evidence["setl_ids"] = list(setl_ids)
    return RuleHit(rule, title, contribution, detail, evidence)


def _loo_rate(k_all: float, n_all: float, k: float, n: float) -> float:
    """The peers' rate: everyone else's events over everyone else's exposure."""
    rest = n_all - n
    return (k_all - k) / rest if rest > 0 else 0.0


def find_leads(
    *,
    session: Session,
    kind: str | None = None,
    case_id: str | None = None,
    params: LeadParams | None = None,
) -> list[Lead]:
    """Run every rule and return the leads, highest score first.

    With ``case_id``, seizures mean the case's seizures, and only entities tied to the case's
    boxes (their cards, institutions, doctors and codes) are returned.
    """
    params = params or LeadParams()
    if kind is not None and kind not in KINDS:
        raise RxtraceError(f"Unknown lead kind '{kind}': use one of {', '.join(KINDS)}.")
    if case_id is not None and session.scalar(
        select(models.Seizure.seizure_id).where(models.Seizure.case_id == case_id).limit(1)
    ) is None:
        raise NotFoundError(f"No case '{case_id}': no seizure names it.")
    kinds = set(KINDS) if kind is None else {kind}
    # What every rule needs from all sales: kept from the last run or load while the data has
    # not grown, built again here otherwise.
    ensure_basis(session=session, params=params)
    sql = Sql(session)
    found = _Found()
    sql.tune()
    try:
        _fill_seized(sql, case_id)
        fill_units(sql)
        if kinds & {"code", "institution", "card"}:
            _rule_codes(sql, params, found, kinds)
        if kinds & {"card", "institution", "doctor"}:
            _rule_seized(sql, params, found, kinds)
        if "card" in kinds:
            _rule_cross_institution(sql, params, found)
        if "institution" in kinds:
            _rule_institution_shape(sql, params, found)
        scope = _case_scope(sql) if case_id is not None else None
        names = _names(sql, found)
    finally:
        sql.drop_all()
    leads = []
    for (k, ident), hits in found.hits.items():
        if k not in kinds or (scope is not None and ident not in scope.get(k, set())):
            continue
        ordered = tuple(sorted(hits, key=lambda h: (-h.contribution, h.rule)))
        shown = found.code_ids.get(ident, ident) if k == "code" else ident
        leads.append(Lead(k, shown, names.get((k, ident)), ordered))
    leads.sort(key=lambda lead: (-lead.score, KINDS.index(lead.kind), lead.id))
    return leads


def _fill_seized(sql: Sql, case_id: str | None) -> None:
    """Seized boxes (a case code stands for every box under it), one row per box and seizure."""
    case_join = "JOIN seizure z ON z.seizure_id = sc.seizure_id AND z.case_id = :case" if case_id else ""
    sql.temp(
        "rxtrace_lead_seized",
        "hi BIGINT NOT NULL, lo BIGINT NOT NULL, seizure_id TEXT, box_med TEXT",
        f"""
        WITH RECURSIVE walk(hi, lo, seizure_id, box_med, depth) AS (
            SELECT sc.key_hi, sc.key_lo, CAST(sc.seizure_id AS TEXT),
                   CAST(sc.box_med_list_codg AS TEXT), 0
            FROM seized_code sc {case_join}
            WHERE sc.key_hi IS NOT NULL
            UNION
            SELECT a.child_hi, a.child_lo, w.seizure_id, CAST(NULL AS TEXT), w.depth + 1
            FROM walk w JOIN aggregation a ON a.parent_hi = w.hi AND a.parent_lo = w.lo
            WHERE w.depth < {_MAX_DEPTH}
        )
        SELECT hi, lo, seizure_id, MAX(box_med) FROM walk GROUP BY hi, lo, seizure_id
        """,
        {"case": case_id} if case_id else None,
    )
    # Insurance rows of the seized boxes: a few per box, so small whatever the sales volume.
    sql.temp(
        "rxtrace_lead_seized_sales",
        "id BIGINT, hi BIGINT, lo BIGINT, setl_id TEXT, inst TEXT, psn TEXT, dr TEXT, med TEXT, "
        "cnt BIGINT, trdn INTEGER, fen BIGINT, seizures BIGINT, box_med TEXT",
        f"""
        SELECT d.id, s.hi, s.lo, d.setl_id, d.fixmedins_code, d.psn_no, d.dr_code,
               d.med_list_codg, d.sel_retn_cnt, d.trdn_flag, d.hifp_pay_fen, s.n, s.box_med
        FROM (SELECT hi, lo, COUNT(DISTINCT seizure_id) AS n, MAX(box_med) AS box_med
              FROM rxtrace_lead_seized GROUP BY hi, lo) s
        JOIN dispensing d ON d.key_hi = s.hi AND d.key_lo = s.lo
        WHERE {INS}
        """,
    )


def _case_scope(sql: Sql) -> dict[str, set[str]]:
    rows = sql.rows("SELECT psn, inst, dr, hi, lo FROM rxtrace_lead_seized_sales")
    keys = {f"{hi}:{lo}" for *_, hi, lo in rows}
    return {
        "card": {r[0] for r in rows},
        "institution": {r[1] for r in rows},
        "doctor": {r[2] for r in rows if r[2]},
        "code": keys,
    }


def _limited(ids: Iterable[str], params: LeadParams) -> list[str]:
    return sorted(set(ids))[: params.evidence_limit]


def _rule_codes(sql: Sql, params: LeadParams, found: _Found, kinds: set[str]) -> None:
    """Codes settled twice or more (resold), and codes on two drugs (cloned).

    The basis holds the few codes any rule could flag (one pass over the insurance rows when it
    is built); their rows are read through the key index and every test is made exactly in
    Python:

    * resold: net whole boxes ≥ 2, a whole box and split units, or more split units than the
      box holds (units per box of the code's first drug);
    * cloned: sales naming two drugs, a national code whose product identifier belongs to
      another drug than the sale's, or a seized box whose printed drug differs from the sale's.
    """
    # A national code's first seven digits name its product; the catalog says which drug that
    # is.
    products = catalog_products(sql)
    seized_mismatch = {(hi, lo) for hi, lo in sql.rows(
        "SELECT DISTINCT hi, lo FROM rxtrace_lead_seized_sales "
        "WHERE box_med IS NOT NULL AND med <> box_med")}
    rows = sql.rows(
        f"""
        SELECT d.key_hi, d.key_lo, d.id, d.setl_id, d.sel_retn_time, d.fixmedins_code,
               d.psn_no, d.dr_code, d.med_list_codg, d.trdn_flag, d.sel_retn_cnt,
               d.hifp_pay_fen, d.drug_trac_codg
        FROM (SELECT key_hi AS hi, key_lo AS lo FROM lead_basis_code
              UNION SELECT hi, lo FROM rxtrace_lead_seized_sales
              WHERE box_med IS NOT NULL AND med <> box_med) c
        JOIN dispensing d ON d.key_hi = c.hi AND d.key_lo = c.lo
        WHERE {INS}
        """,
    )
    upb_of: dict[str, int] = {med: int(upb) for med, upb in sql.rows(
        "SELECT med, upb FROM rxtrace_lead_upb WHERE upb IS NOT NULL")}
    seized_box_med = {(hi, lo): med for hi, lo, med in sql.rows(
        "SELECT hi, lo, MAX(box_med) FROM rxtrace_lead_seized GROUP BY hi, lo")}
    code_rows: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for row in rows:
        code_rows[(row.key_hi, row.key_lo)].append(row)
    by_code: dict[tuple[int, int], list[Any]] = {}
    code_upb: dict[tuple[int, int], int | None] = {}
    bad_rows: dict[tuple[int, int], list[Any]] = {}
    for key, all_rows in code_rows.items():
        net_whole = sum(r.sel_retn_cnt for r in all_rows if not r.trdn_flag)
        net_units = sum(r.sel_retn_cnt for r in all_rows if r.trdn_flag)
        meds = {r.med_list_codg for r in all_rows}
        first_upb = upb_of.get(min(meds))
        if (net_whole >= 2 or (net_whole >= 1 and net_units > 0) or len(meds) > 1
                or (first_upb is not None and net_units > first_upb)):
            by_code[key] = all_rows
            code_upb[key] = first_upb
        elif key in seized_mismatch:
            # Not flagged by its sales, only by the seized box: each sale's own drug says
            # how many units its box holds.
            by_code[key] = all_rows
            ordered = sorted(all_rows, key=lambda r: (r.sel_retn_time, r.id))
            code_upb[key] = next((upb_of[r.med_list_codg] for r in ordered
                                  if upb_of.get(r.med_list_codg)), None)
        bad = [r for r in all_rows if r.key_hi > 0
               and products.get(r.key_hi // 1000, r.med_list_codg) != r.med_list_codg]
        if bad:
            bad_rows[key] = bad
    resale_by_inst: dict[str, list[str]] = defaultdict(list)
    cards_resold: dict[str, set[str]] = defaultdict(set)
    card_setls: dict[str, set[str]] = defaultdict(set)
    clone_by_inst: dict[str, list[str]] = defaultdict(list)
    codes = set(by_code) | set(bad_rows)
    for key in sorted(codes):
        sales = sorted(by_code.get(key, []), key=lambda r: (r.sel_retn_time, r.id))
        hits: list[RuleHit] = []
        ident = f"{key[0]}:{key[1]}"
        upb = code_upb.get(key)
        resales = _resales(sales, upb)
        whole = sum(r.sel_retn_cnt for r in sales if not r.trdn_flag)
        units = sum(r.sel_retn_cnt for r in sales if r.trdn_flag)
        if resales:
            extra = len(resales)
            hits.append(RuleHit(
                "resold", "Resold or re-dispensed box", params.w_resold * (1 + min(math.log2(extra), 3)),
                f"settled {whole} whole box(es) net"
                + (f" and {units} split unit(s)" if units else "")
                + f": {extra} sale(s) of a box already dispensed",
                {"net_boxes": whole, "split_units": units, "units_per_box": upb,
                 "resales": extra, "institutions": sorted({r.fixmedins_code for r in resales}),
                 "cards": sorted({r.psn_no for r in sales}),
                 "fund_fen": sum(r.hifp_pay_fen for r in sales),
                 "setl_ids": _limited((r.setl_id for r in sales), params)}))
            for r in resales:
                resale_by_inst[r.fixmedins_code].append(r.setl_id)
            for r in sales:
                if r.sel_retn_cnt > 0:
                    cards_resold[r.psn_no].add(ident)
                    card_setls[r.psn_no].add(r.setl_id)
        reasons: list[str] = []
        clone_rows: list[Any] = []
        drugs = sorted({r.med_list_codg for r in sales})
        all_drugs = sorted({r.med_list_codg for r in sales + bad_rows.get(key, [])})
        if len(drugs) > 1:
            reasons.append(f"sales name {len(drugs)} drugs: {', '.join(drugs)}")
            # Which sale is the clone is unknown without the catalog: the minority drug's.
            counts = {d: sum(1 for r in sales if r.med_list_codg == d) for d in drugs}
            major = max(drugs, key=lambda d: (counts[d], d))
            clone_rows += [r for r in sales if r.med_list_codg != major]
        box_med = seized_box_med.get(key)
        if box_med and sales and any(r.med_list_codg != box_med for r in sales):
            reasons.append(f"the seized box shows {box_med}, the sale names {', '.join(drugs)}")
            clone_rows += [r for r in sales if r.med_list_codg != box_med]
        if key in bad_rows:
            bad = bad_rows[key]
            reasons.append("the code's product identifier belongs to another drug than "
                           f"{', '.join(sorted({r.med_list_codg for r in bad}))}")
            clone_rows += bad
        if reasons:
            hits.append(RuleHit(
                "cloned", "Cloned code", params.w_clone * min(len(reasons), 2),
                "; ".join(reasons),
                {"drugs": all_drugs,
                 "box_med_list_codg": box_med,
                 "institutions": sorted({r.fixmedins_code for r in clone_rows}),
                 "setl_ids": _limited((r.setl_id for r in clone_rows), params)}))
            for r in {r.id: r for r in clone_rows}.values():
                clone_by_inst[r.fixmedins_code].append(r.setl_id)
        if hits:
            found.code_ids.setdefault(
                ident, _key_text(key[0], key[1], code_rows[key][0].drug_trac_codg))
            if key in seized_box_med:
                hits.append(RuleHit("seized_code", "Code found on a seized box", 1.0,
                                    "this code was read off a seized box", {"setl_ids": []}))
            for hit in hits:
                found.add("code", ident, hit)
            found.names[("code", ident)] = all_drugs[0] if all_drugs else None

    if "institution" not in kinds:
        resale_by_inst.clear()
        clone_by_inst.clear()
    if "card" not in kinds:
        cards_resold.clear()
    if resale_by_inst or clone_by_inst:
        # Only when institutions are asked for; their exposures then come with the
        # settlement figures, already computed.
        inst_exposure = _inst_exposure(sql)
        _attribute_rate(
            sql, params, found, "institution", "resold_at",
            "Sold boxes already dispensed", params.w_resold,
            _counted(resale_by_inst), inst_exposure,
            "sales of an already-dispensed box")
        _attribute_rate(
            sql, params, found, "institution", "cloned_at", "Sold cloned codes", params.w_clone,
            _counted(clone_by_inst), inst_exposure,
            "sales of a cloned code")
    if cards_resold:
        exposure = _card_exposure(sql, cards_resold)
        _attribute_rate(
            sql, params, found, "card", "resold_card", "Card on resold boxes", params.w_resold,
            {c: (len(v), sorted(card_setls[c])) for c, v in cards_resold.items()},
            exposure, "purchases of a box settled twice")


def _resales(sales: Sequence[Any], upb: int | None) -> list[Any]:
    """The sales of a box already dispensed: the later sales, once the box is used up."""
    whole = units = 0
    out = []
    for row in sales:
        count = int(row.sel_retn_cnt)
        if count > 0:
            if row.trdn_flag:
                used_up = whole >= 1 or (upb is not None and units + count > upb)
            else:
                used_up = whole >= 1 or units > 0
            if used_up:
                out.append(row)
        if row.trdn_flag:
            units += count
        else:
            whole += count
    return out


def _key_text(hi: int, lo: int, written: str) -> str:
    """The box key as text: a national key from its halves, a GS1 key parsed from the sale."""
    if hi >= 0:
        return f"{hi:010d}{lo:010d}"
    try:
        return parse_code(written).key
    except ParseError:
        return f"{hi}:{lo}"


def _inst_exposure(sql: Sql) -> dict[str, tuple[float, str | None]]:
    """Insurance sale rows per institution, and its kind (the peer group)."""
    return {inst: (float(f.rows), f.kind) for inst, f in _inst_figures(sql).items()}


def _card_exposure(sql: Sql, cards: Iterable[str]) -> dict[str, tuple[float, str | None]]:
    """Sale rows per card, for the given cards only."""
    sql.empty_temp("rxtrace_lead_cardset", "psn TEXT PRIMARY KEY")
    sql.fill("rxtrace_lead_cardset", ("psn",), [{"psn": c} for c in sorted(set(cards))])
    return {psn: (float(n), None) for psn, n in sql.rows(
        "SELECT b.psn_no, b.sale_rows FROM rxtrace_lead_cardset c "
        "JOIN lead_basis_card b ON b.psn_no = c.psn")}


def _doctor_exposure(sql: Sql) -> dict[str, tuple[float, str | None]]:
    return {dr: (float(n), None) for dr, n in sql.rows(
        "SELECT dr_code, sale_rows FROM lead_basis_doctor")}


def _totals(sql: Sql, kind: str) -> tuple[float, int]:
    """All insurance sale rows, and how many entities of the kind have any."""
    table = {"card": "lead_basis_card", "doctor": "lead_basis_doctor"}.get(kind)
    if table is None:
        exposure = _inst_exposure(sql)
        return sum(n for n, _ in exposure.values()), len(exposure)
    n_all, tested = sql.rows(f"SELECT SUM(sale_rows), COUNT(*) FROM {table}")[0]
    return float(n_all or 0), int(tested or 0)


def _attribute_rate(
    sql: Sql, params: LeadParams, found: _Found, kind: str, rule: str, title: str,
    weight: float, events: Mapping[str, tuple[int, Sequence[str]]],
    exposure: Mapping[str, tuple[float, str | None]], what: str, *,
    totals: tuple[float, int] | None = None, extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Test each entity's events against everyone else's rate; record the hits (a relative
    risk of at least ``2 ** params.min_log2_rr``)."""
    min_rr = 2 ** params.min_log2_rr
    if not events:
        return
    n_all, tested = totals if totals is not None else _totals(sql, kind)
    k_all = sum(k for k, _ in events.values())
    gate = _gate(params, tested)
    for ident, (k, setls) in events.items():
        n = exposure.get(ident, (float(k), None))[0]
        test = rate_test(k, n, _loo_rate(k_all, n_all, k, n), prior=params.prior_events)
        hit = _rate_hit(rule, title, weight, test, gate, min_rr=min_rr, what=what,
                        extra=(extra or {}).get(ident), setl_ids=_limited(setls, params))
        if hit is not None:
            found.add(kind, ident, hit)


def _rule_seized(sql: Sql, params: LeadParams, found: _Found, kinds: set[str]) -> None:
    """Cards whose boxes were seized; institutions and doctors whose share of seized boxes is
    far beyond their share of sales; doctors whose prescriptions go to the seized cards."""
    rows = sql.rows("SELECT id, hi, lo, setl_id, inst, psn, dr, cnt, fen, seizures "
                    "FROM rxtrace_lead_seized_sales")
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
        for card, boxes in card_boxes.items():
            seizures = set().union(*(box_seizures[b] for b in boxes))
            contribution = params.w_seized * min(math.log2(1 + len(boxes)), 4.0)
            found.add("card", card, RuleHit(
                "card_seized", "Card whose boxes were seized", contribution,
                f"{len(boxes)} seized box(es) were bought on this card, "
                f"{fen_to_yuan(card_fen[card])} yuan of fund money, in {len(seizures)} "
                f"seizure(s), from {len(card_insts[card])} institution(s)",
                {"boxes": len(boxes), "fund_fen": card_fen[card],
                 "fund_yuan": str(fen_to_yuan(card_fen[card])),
                 "seizures": sorted(seizures), "institutions": sorted(card_insts[card]),
                 "setl_ids": _limited(card_setls[card], params)}))
    if "institution" in kinds:
        exposure = _inst_exposure(sql)
        _attribute_rate(
            sql, params, found, "institution", "seized_share",
            "Share of sales found in seizures", params.w_seized_share,
            _counted(inst_events), exposure,
            "sold boxes found in seizures")
    if "doctor" in kinds and (doctor_events or card_boxes):
        doctor_exposure = _doctor_exposure(sql)
        totals = (sum(n for n, _ in doctor_exposure.values()), len(doctor_exposure))
        _attribute_rate(
            sql, params, found, "doctor", "seized_share",
            "Share of prescriptions found in seizures", params.w_seized_share,
            _counted(doctor_events), doctor_exposure,
            "prescribed boxes found in seizures", totals=totals)
        if card_boxes:
            sql.temp("rxtrace_lead_seized_cards", "psn TEXT PRIMARY KEY",
                     "SELECT DISTINCT psn FROM rxtrace_lead_seized_sales WHERE cnt > 0")
            # The seized cards' sales, read once through the card index: their count per
            # doctor is the event, their settlements the evidence.
            prescribed: dict[str, int] = defaultdict(int)
            setls_of: dict[str, set[str]] = defaultdict(set)
            for dr, setl in sql.rows(
                f"SELECT d.dr_code, d.setl_id FROM rxtrace_lead_seized_cards c CROSS JOIN "
                f"dispensing d WHERE d.psn_no = c.psn AND {INS} AND d.sel_retn_cnt > 0 "
                f"AND d.dr_code IS NOT NULL"
            ):
                prescribed[dr] += 1
                setls_of[dr].add(setl)
            concentrated = {dr: (k, _limited(setls_of[dr], params))
                            for dr, k in prescribed.items()}
            _attribute_rate(
                sql, params, found, "doctor", "seized_cards",
                "Prescriptions concentrated on seized cards", params.w_seized_cards,
                concentrated, doctor_exposure, "prescriptions for cards with seized boxes", totals=totals)


def _counted(events: Mapping[str, Sequence[str]]) -> dict[str, tuple[int, Sequence[str]]]:
    """Each entity's events as (how many, their settlement ids), as :func:`_attribute_rate`
    takes them."""
    return {ident: (len(setls), setls) for ident, setls in events.items()}


def _fill_evidence(sql: Sql, events: dict[str, tuple[int, list[str]]], params: LeadParams,
                   pairs_sql: str) -> None:
    """Attach up to ``evidence_limit`` setl_ids per entity from a query of columns e, s."""
    limit = int(params.evidence_limit)
    for ident, setl in sql.rows(
        f"SELECT e, s FROM (SELECT e, s, ROW_NUMBER() OVER (PARTITION BY e ORDER BY s) AS rn "
        f"FROM (SELECT DISTINCT p.e, p.s FROM ({pairs_sql}) p) x) y WHERE rn <= {limit}"
    ):
        if ident in events:
            events[ident][1].append(setl)


def _rule_cross_institution(sql: Sql, params: LeadParams, found: _Found) -> None:
    """One card collecting the same drug from many institutions, beyond a plausible dose.

    The basis holds every window of ``window_days`` (two grids offset by half a window) in
    which a card got one drug from two institutions or more.
    """
    period = params.window_days * 86400
    half = period // 2
    epoch = sql.epoch("d.sel_retn_time")
    best: dict[str, Any] = {}
    # Of equal windows, the first by drug, grid and bucket is shown.
    for row in sql.rows("SELECT psn_no AS psn, med_list_codg AS med, grid AS g, bucket AS b, "
                        "institutions AS insts, units, typical, plausible "
                        "FROM lead_basis_window ORDER BY psn_no, med_list_codg, grid, bucket"):
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
        f"AND {INS} AND ({epoch} + w.grid * {half}) / {period} = w.bucket")
    for psn, med, g, b, setl in window_rows:
        row = best.get(psn)
        if row is not None and (row.med, row.g, row.b) == (med, g, b):
            setls[psn].append(setl)
    for psn, row in best.items():
        start = _EPOCH + timedelta(seconds=row.b * period - row.g * half)
        span = f"{start:%Y-%m-%d} – {start + timedelta(days=params.window_days):%Y-%m-%d}"
        plausible = None if row.plausible is None else round(float(row.plausible), 1)
        evidence = {"drug": row.med, "window_start": start.date().isoformat(),
                    "window_days": params.window_days, "institutions": int(row.insts),
                    "units": None if row.units is None else int(row.units),
                    "typical_units": None if row.typical is None else round(float(row.typical), 1),
                    "plausible_units": plausible,
                    "setl_ids": _limited(setls[psn], params)}
        if row.insts >= params.min_institutions:
            contribution = params.w_cross_institution * min(
                math.log2(row.insts / (params.min_institutions - 1)) + 0.5, 3.0)
            found.add("card", psn, RuleHit(
                "cross_institution", "Same drug from many institutions", contribution,
                f"{row.insts} institutions dispensed {row.med} to this card in {span}",
                evidence))
        if row.units is not None and plausible and row.units > plausible and row.insts >= 2:
            ratio = row.units / plausible
            contribution = params.w_oversupply * min(0.5 + math.log2(ratio), 3.0)
            found.add("card", psn, RuleHit(
                "oversupply", "More than a plausible dose", contribution,
                f"{row.units} units of {row.med} from {row.insts} institutions in {span}: "
                f"{ratio:.1f}× the plausible {plausible:g} (at least "
                f"{params.max_units_per_day:g} a day, or {params.typical_factor:g}× a card's "
                f"usual {row.typical or 0:.0f} in {params.window_days} days, plus one box)",
                evidence))


class _InstFigures(NamedTuple):
    """One institution's settlements, as the basis sums them up for every shape rule."""

    kind: str | None
    setls: int
    cards: int
    boxes: int
    rows: int
    card_days: int
    no_visit: int
    # Settlements whose visit number other cards' settlements carry too.
    shared_visit: int
    # Pairs of consecutive settlements to different cards: minutes apart or further apart,
    # and how many of each were identical bills.
    short: int
    short_same: int
    long: int
    long_same: int
    # The multi-drug basket most of its cards got: (drugs, first, last, boxes), and to how
    # many cards.
    modal: tuple[int, str, str, int] | None
    modal_cards: int


def _inst_figures(sql: Sql) -> dict[str, _InstFigures]:
    cached: dict[str, _InstFigures] | None = sql.cache.get("inst_figures")
    if cached is None:
        cached = {r.fixmedins_code: _InstFigures(
            r.kind, int(r.setls), int(r.cards), int(r.boxes), int(r.sale_rows),
            int(r.card_days), int(r.no_visit), int(r.shared_visit), int(r.short),
            int(r.short_same), int(r.long), int(r.long_same),
            None if r.modal_ndrug is None
            else (int(r.modal_ndrug), r.modal_dmin, r.modal_dmax, int(r.modal_boxes)),
            int(r.modal_cards or 0),
        ) for r in sql.rows("SELECT * FROM lead_basis_institution")}
        sql.cache["inst_figures"] = cached
    return cached


def _rule_institution_shape(sql: Sql, params: LeadParams, found: _Found) -> None:
    """Phantom billing shows in the shape of an institution's sales, whatever its size:
    boxes per card-day (a visit), settlements without a visit number (or one shared by several
    cards), most cards getting the very same basket, and identical bills to different cards
    minutes apart.
    """
    per_inst = _inst_figures(sql)
    if not per_inst:
        return
    tested = len(per_inst)
    gate = _gate(params, tested)

    def evidence_of(insts: Iterable[str], pairs_sql: str) -> dict[str, tuple[int, list[str]]]:
        """The settlements behind the institutions that fired, from a query of columns e, s
        over ``rxtrace_lead_setl s`` (their settlements only, read through the institution
        index)."""
        setls: dict[str, tuple[int, list[str]]] = {i: (0, []) for i in insts}
        if setls:
            sql.empty_temp("rxtrace_lead_fired", "inst TEXT PRIMARY KEY")
            sql.fill("rxtrace_lead_fired", ("inst",), [{"inst": i} for i in sorted(setls)])
            fill_settlements(sql, only="rxtrace_lead_fired")
            _fill_evidence(sql, setls, params, pairs_sql)
        return setls

    def test_all(rule: str, title: str, weight: float, events: Mapping[str, float],
                 exposure: Mapping[str, float], what: str, evidence_sql: str | None,
                 floor: float = 0.0) -> None:
        # Peers are everyone else of the same kind (hospital, clinic, pharmacy), or everyone
        # else when the kind has too little volume besides the institution itself.
        kind_k: dict[str | None, float] = defaultdict(float)
        kind_n: dict[str | None, float] = defaultdict(float)
        for inst, row in per_inst.items():
            kind_k[row.kind] += events.get(inst, 0.0)
            kind_n[row.kind] += exposure[inst]
        all_k, all_n = sum(kind_k.values()), sum(kind_n.values())
        hits: dict[str, RateTest] = {}
        for inst in per_inst:
            k = int(events.get(inst, 0))
            if k <= 0:
                continue
            kind, n = per_inst[inst].kind, exposure[inst]
            if kind_n[kind] - n >= _MIN_PEER_EXPOSURE:
                rate = _loo_rate(kind_k[kind], kind_n[kind], k, n)
            else:
                rate = _loo_rate(all_k, all_n, k, n)
            hits[inst] = rate_test(k, n, max(rate, floor), prior=params.prior_events)
        fired = {i: t for i, t in hits.items() if t.surprise >= gate
                 and t.relative_risk >= params.min_rr_shape}
        setls: dict[str, tuple[int, list[str]]] = {i: (0, []) for i in fired}
        if fired and evidence_sql:
            setls = evidence_of(fired, evidence_sql)
        for inst, test in fired.items():
            hit = _rate_hit(rule, title, weight, test, gate, min_rr=params.min_rr_shape,
                            what=what, setl_ids=setls[inst][1],
                            extra={"kind": per_inst[inst].kind})
            if hit is not None:
                found.add("institution", inst, hit)

    fired_only = "s.inst IN (SELECT inst FROM rxtrace_lead_fired)"

    # Per card-day, not per card: a big hospital sees the same patients again and again, so
    # its boxes per card grow with its size; what one visit takes away does not.
    test_all("boxes_per_card", "Boxes per card-day far above peers", params.w_boxes_per_card,
             {i: float(r.boxes) for i, r in per_inst.items()},
             {i: float(r.card_days or 1) for i, r in per_inst.items()},
             "boxes (per card-day)", None)

    shared_visit = (
        "SELECT inst, sn FROM rxtrace_lead_setl WHERE sn IS NOT NULL AND sn <> '' {only}"
        "GROUP BY inst, sn HAVING MIN(psn) <> MAX(psn)")
    bad_visits = {i: float(r.no_visit + r.shared_visit) for i, r in per_inst.items()}
    test_all("visit_ids", "Settlements without a real visit number", params.w_visit_ids,
             bad_visits, {i: float(r.setls) for i, r in per_inst.items()},
             "settlements with no visit number or one shared by several cards",
             f"SELECT s.inst AS e, s.setl_id AS s FROM rxtrace_lead_setl s LEFT JOIN ("
             f"{shared_visit.format(only='AND inst IN (SELECT inst FROM rxtrace_lead_fired) ')}"
             f") r ON r.inst = s.inst AND r.sn = s.sn "
             f"WHERE {fired_only} AND (s.sn IS NULL OR s.sn = '' OR r.sn IS NOT NULL)")

    # The modal basket (number of drugs, first drug, last drug, boxes) stands for the basket;
    # only baskets of two drugs or more count, since one popular drug is normal anywhere. The
    # basis keeps each institution's own; its settlements are matched against it there.
    test_all("modal_basket", "Many cards getting the very same drugs", params.w_modal_basket,
             {i: float(r.modal_cards) for i, r in per_inst.items() if r.modal is not None},
             {i: float(r.cards) for i, r in per_inst.items()},
             "cards given the same multi-drug basket",
             "SELECT s.inst AS e, s.setl_id AS s FROM rxtrace_lead_setl s "
             "JOIN lead_basis_institution m ON m.fixmedins_code = s.inst "
             "AND m.modal_ndrug = s.ndrug AND m.modal_dmin = s.dmin AND m.modal_dmax = s.dmax "
             f"AND m.modal_boxes = s.boxes WHERE {fired_only}", floor=params.modal_floor)

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
        if r.long >= _MIN_OWN_PAIRS:
            rate = float(r.long_same) / float(r.long)
        elif same_n[r.kind] - own_n >= _MIN_PEER_EXPOSURE:
            rate = _loo_rate(same_k[r.kind], same_n[r.kind], own_k, own_n)
        else:
            rate = _loo_rate(sum(same_k.values()), sum(same_n.values()), own_k, own_n)
        test = rate_test(k, n, rate, prior=params.prior_events)
        if test.surprise >= gate and test.relative_risk >= params.min_rr_shape:
            bunched[inst] = test
    if bunched:
        setls = evidence_of(bunched, (
            f"SELECT s.inst AS e, s.setl_id AS s FROM {settlements(sql)} "
            f"WHERE {fired_only} AND s.prev_t IS NOT NULL AND s.prev_psn <> s.psn "
            f"AND s.t - s.prev_t <= {int(params.bunch_seconds)} AND {SAME_BILL}"))
        for inst, test in bunched.items():
            hit = _rate_hit(
                "bunched", "Identical bills to different cards minutes apart", params.w_bunched,
                test, gate, min_rr=params.min_rr_shape,
                what=f"bills identical to the previous one (another card, within "
                     f"{params.bunch_seconds} s), against its own rate of identical bills "
                     f"further apart",
                extra={"kind": per_inst[inst].kind}, setl_ids=setls[inst][1])
            if hit is not None:
                found.add("institution", inst, hit)


def _names(sql: Sql, found: _Found) -> dict[tuple[str, str], str | None]:
    names: dict[tuple[str, str], str | None] = dict(found.names)
    insts = {i for k, i in found.hits if k == "institution"}
    if insts:
        for code, name in sql.session.execute(
            select(models.Institution.fixmedins_code, models.Institution.name)
            .where(models.Institution.fixmedins_code.in_(sorted(insts)))
        ):
            names[("institution", code)] = name
    doctors = sorted(i for k, i in found.hits if k == "doctor")
    for start in range(0, len(doctors), 500):
        # Shown at the institution the basis names for them: the first by code, when a
        # doctor sells at several.
        for dr, name in sql.session.execute(
            select(models.LeadBasisDoctor.dr_code, models.Institution.name)
            .join(models.Institution,
                  models.Institution.fixmedins_code == models.LeadBasisDoctor.fixmedins_code)
            .where(models.LeadBasisDoctor.dr_code.in_(doctors[start:start + 500]))
        ):
            names[("doctor", dr)] = f"doctor at {name}"
    cards = sorted(i for k, i in found.hits if k == "card")
    for start in range(0, len(cards), 500):
        for psn, masked in sql.session.execute(
            select(models.Dispensing.psn_no, models.Dispensing.psn_name_masked)
            .where(models.Dispensing.psn_no.in_(cards[start:start + 500]),
                   models.Dispensing.psn_name_masked.is_not(None)).distinct()
        ):
            names.setdefault(("card", psn), masked)
    codes = {i for k, i in found.hits if k == "code"}
    meds = {names.get(("code", c)) for c in codes} - {None}
    if meds:
        drug_names = dict(sql.session.execute(
            select(models.CatalogProduct.med_list_codg, models.CatalogProduct.name)
            .where(models.CatalogProduct.med_list_codg.in_(sorted(m for m in meds if m)))
        ).all())
        for c in codes:
            med = names.get(("code", c))
            if med in drug_names:
                names[("code", c)] = drug_names[med]
    return names


# ---------------------------------------------------------------------------------------------
# Workflow


@dataclass(frozen=True)
class StoredLead:
    """A lead as kept: its number for the workflow, its state and its last findings."""

    lead_id: int
    status: str
    lead: Lead
    first_seen_at: datetime
    updated_at: datetime

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "status": self.status,
                **self.lead.to_dict(reveal=reveal),
                "first_seen_at": self.first_seen_at, "updated_at": self.updated_at}


@dataclass(frozen=True)
class LeadEvent:
    at: datetime
    by: str
    from_status: str | None
    to_status: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_user() -> str:
    """The operating-system user, so every change names who made it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


def _ident(lead: Lead) -> str:
    return lead.id


def save_leads(
    leads: Sequence[Lead], *, session: Session, scope: str | None = None,
    now: datetime | None = None,
) -> list[StoredLead]:
    """Raise new leads (status ``new``) and refresh known ones, keeping their state."""
    now = now or datetime.now().replace(microsecond=0)
    wanted = {(lead.kind, _ident(lead)): lead for lead in leads}
    existing: dict[tuple[str, str], models.LeadRecord] = {}
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, ident in wanted:
        by_kind[kind].append(ident)
    for kind, idents in by_kind.items():
        for start in range(0, len(idents), 500):
            for record in session.scalars(select(models.LeadRecord).where(
                models.LeadRecord.kind == kind,
                models.LeadRecord.entity_id.in_(idents[start:start + 500]),
            )):
                existing[(record.kind, record.entity_id)] = record
    out: list[StoredLead] = []
    fresh: list[models.LeadRecord] = []
    for key, lead in wanted.items():
        known = existing.get(key)
        document = lead.to_dict(reveal=True)
        if known is None:
            record = models.LeadRecord(
                kind=lead.kind, entity_id=key[1], name=lead.name, status="new",
                score=lead.score, rules=document["rules"], evidence=document["evidence"],
                scope=scope, first_seen_at=now, last_seen_at=now, updated_at=now)
            session.add(record)
            fresh.append(record)
        else:
            record = known
            record.name, record.score = lead.name, lead.score
            record.rules, record.evidence = document["rules"], document["evidence"]
            record.scope, record.last_seen_at = scope, now
        existing[key] = record
    session.flush()
    for record in fresh:
        session.add(models.LeadEvent(lead_id=record.id, at=now, by=_SYSTEM, from_status=None,
                                     to_status="new", note=f"raised, score {record.score:g}"))
    session.flush()
    for key, lead in wanted.items():
        record = existing[key]
        out.append(StoredLead(record.id, record.status, lead, record.first_seen_at,
                              record.updated_at))
    return out


def _stored(record: models.LeadRecord) -> StoredLead:
    rules = tuple(
        RuleHit(r["rule"], r["title"], float(r["contribution"]), r["detail"],
                r.get("evidence") or {})
        for r in record.rules or []
    )
    lead = Lead(record.kind, record.entity_id, record.name, rules)
    return StoredLead(record.id, record.status, lead, record.first_seen_at, record.updated_at)


def lead_history(lead_id: int, *, session: Session) -> tuple[StoredLead, list[LeadEvent]]:
    """A stored lead and every step of its history, oldest first."""
    record = session.get(models.LeadRecord, lead_id)
    if record is None:
        raise NotFoundError(f"No lead {lead_id}: run `rxtrace leads` to raise leads.")
    events = [
        LeadEvent(e.at, e.by, e.from_status, e.to_status, e.note)
        for e in session.scalars(select(models.LeadEvent)
                                 .where(models.LeadEvent.lead_id == lead_id)
                                 .order_by(models.LeadEvent.id))
    ]
    return _stored(record), events


def change_status(
    lead_id: int, *, session: Session, status: str | None = None, note: str | None = None,
    by: str | None = None, now: datetime | None = None,
) -> tuple[StoredLead, list[LeadEvent]]:
    """Move a lead along its workflow, or add a note; every change is kept with who and why.

    Closing and reopening need a reason; a move the workflow does not allow is refused.
    """
    record = session.get(models.LeadRecord, lead_id)
    if record is None:
        raise NotFoundError(f"No lead {lead_id}.")
    note = (note or "").strip() or None
    if status is None and note is None:
        raise RxtraceError("Give --status, --note or both.")
    if status is not None:
        if status not in STATUSES:
            raise RxtraceError(f"Unknown status '{status}': use one of {', '.join(STATUSES)}.")
        if status not in TRANSITIONS[record.status]:
            allowed = ", ".join(sorted(TRANSITIONS[record.status]))
            raise ConflictError(
                f"Lead {lead_id} is {record.status}; it can go to {allowed}, not {status}.")
        if (status == "closed" or record.status == "closed") and note is None:
            verb = "Closing" if status == "closed" else "Reopening"
            raise ConflictError(f"{verb} lead {lead_id} needs a reason: give --note.")
    now = now or datetime.now().replace(microsecond=0)
    previous = record.status
    target = status or previous
    session.add(models.LeadEvent(lead_id=lead_id, at=now, by=(by or default_user())[:64],
                                 from_status=previous, to_status=target, note=note))
    record.status, record.updated_at = target, now
    session.flush()
    return lead_history(lead_id, session=session)
