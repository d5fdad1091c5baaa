"""What the rules share: the findings collected, the surprise gate, the peers' rates, and
the exposures (sales per institution, card and doctor) rates are measured against."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rxtrace.trace.investigate.basis import INS, fill_units
from rxtrace.trace.investigate.params import LeadParams, RateTest, RuleHit
from rxtrace.trace.investigate.sql import Sql, selected
from rxtrace.trace.investigate.stats import rate_test

__all__ = [
    "CARDED",
    "CardSale",
    "DoctorFigures",
    "Found",
    "InstitutionFigures",
    "attribute_rate",
    "card_names",
    "counted",
    "doctor_figures",
    "drug_names",
    "exposure_of_cards",
    "exposure_of_doctors",
    "exposure_of_institutions",
    "fill_carded",
    "fill_evidence",
    "institution_figures",
    "limited",
    "loo_rate",
    "rate_hit",
    "sales_of_cards",
    "surprise_gate",
]


@dataclass
class Found:
    """Rule hits per (kind, entity) while the analysis runs, and names to show."""

    hits: dict[tuple[str, str], list[RuleHit]] = field(default_factory=lambda: defaultdict(list))
    names: dict[tuple[str, str], str | None] = field(default_factory=dict)
    # A code is found by its stored key halves; it is shown by its key text.
    code_ids: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, ident: str, hit: RuleHit) -> None:
        self.hits[(kind, ident)].append(hit)


def surprise_gate(params: LeadParams, tested: int) -> float:
    return params.min_surprise + math.log10(max(tested, 1))


def rate_hit(
    rule: str,
    title: str,
    weight: float,
    test: RateTest,
    gate: float,
    *,
    min_rr: float,
    what: str,
    extra: Mapping[str, Any] | None = None,
    setl_ids: Sequence[str] = (),
) -> RuleHit | None:
    """A rate rule's hit, or None when the excess is not both unlikely and large."""
    log_rr = math.log2(test.relative_risk) if test.relative_risk > 0 else 0.0
    if test.observed <= 0 or test.surprise < gate or test.relative_risk < min_rr:
        return None
    contribution = weight * min(log_rr, 4.0)
    if contribution <= 0:
        return None
    detail = (
        f"{test.observed} {what} where {test.expected:.2f} were expected at the peers' rate "
        f"(chance 1 in 10^{test.surprise:.1f}); shrunk relative risk "
        f"{test.relative_risk:.2f} × weight {weight} → {contribution:.2f}"
    )
    evidence: dict[str, Any] = {**test.to_dict(), **(extra or {})}
    evidence["setl_ids"] = list(setl_ids)
    return RuleHit(rule, title, contribution, detail, evidence)


def loo_rate(k_all: float, n_all: float, k: float, n: float) -> float:
    """The peers' rate: everyone else's events over everyone else's exposure."""
    rest = n_all - n
    return (k_all - k) / rest if rest > 0 else 0.0


def limited(ids: Iterable[str], params: LeadParams) -> list[str]:
    return sorted(set(ids))[: params.evidence_limit]


class InstitutionFigures(NamedTuple):
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
    # What the fund paid, and what was billed in all, on the sales whose price is known (fen).
    fund_fen: int = 0
    billed_fen: int = 0


def institution_figures(sql: Sql) -> dict[str, InstitutionFigures]:
    cached: dict[str, InstitutionFigures] | None = sql.cache.get("inst_figures")
    if cached is None:
        cached = {
            r.fixmedins_code: InstitutionFigures(
                r.kind,
                int(r.setls),
                int(r.cards),
                int(r.boxes),
                int(r.sale_rows),
                int(r.card_days),
                int(r.no_visit),
                int(r.shared_visit),
                int(r.short),
                int(r.short_same),
                int(r.long),
                int(r.long_same),
                None
                if r.modal_ndrug is None
                else (int(r.modal_ndrug), r.modal_dmin, r.modal_dmax, int(r.modal_boxes)),
                int(r.modal_cards or 0),
                int(r.fund_fen or 0),
                int(r.billed_fen or 0),
            )
            for r in sql.rows("SELECT * FROM lead_basis_institution")
        }
        sql.cache["inst_figures"] = cached
    return cached


def exposure_of_institutions(sql: Sql) -> dict[str, tuple[float, str | None]]:
    """Insurance sale rows per institution, and its kind (the peer group)."""
    return {inst: (float(f.rows), f.kind) for inst, f in institution_figures(sql).items()}


def exposure_of_cards(sql: Sql, cards: Iterable[str]) -> dict[str, tuple[float, str | None]]:
    """Sale rows per card, for the given cards only."""
    _cardset(sql, sorted(set(cards)))
    return {
        psn: (float(n), None)
        for psn, n in sql.rows(
            "SELECT b.psn_no, b.sale_rows FROM rxtrace_lead_cardset c "
            "JOIN lead_basis_card b ON b.psn_no = c.psn"
        )
    }


class DoctorFigures(NamedTuple):
    """One doctor's prescriptions, as the basis sums them up for the doctors' rules."""

    rows: int
    institution: str | None  # where the doctor is shown (the first by code)
    fund_fen: int  # what the fund paid on the sales whose price is known
    billed_fen: int  # what those sales billed
    setls: int
    bursts: int  # settlements to another card right after the doctor's previous one


def doctor_figures(sql: Sql) -> dict[str, DoctorFigures]:
    """Every doctor's figures, read once per run: three rules and the exposures use them
    (on Spark each read of the basis table is a job of its own)."""
    cached: dict[str, DoctorFigures] | None = sql.cache.get("doctor_figures")
    if cached is None:
        cached = {
            r.dr_code: DoctorFigures(
                int(r.sale_rows),
                r.fixmedins_code,
                int(r.fund_fen or 0),
                int(r.billed_fen or 0),
                int(r.setls or 0),
                int(r.bursts or 0),
            )
            for r in sql.rows(
                "SELECT dr_code, sale_rows, fixmedins_code, fund_fen, billed_fen, setls, bursts "
                "FROM lead_basis_doctor"
            )
        }
        sql.cache["doctor_figures"] = cached
    return cached


def exposure_of_doctors(sql: Sql) -> dict[str, tuple[float, str | None]]:
    return {dr: (float(f.rows), None) for dr, f in doctor_figures(sql).items()}


def _totals(sql: Sql, kind: str) -> tuple[float, int]:
    """All insurance sale rows, and how many entities of the kind have any."""
    if kind == "card":
        n_all, tested = sql.rows("SELECT SUM(sale_rows), COUNT(*) FROM lead_basis_card")[0]
        return float(n_all or 0), int(tested or 0)
    exposure = exposure_of_doctors(sql) if kind == "doctor" else exposure_of_institutions(sql)
    return sum(n for n, _ in exposure.values()), len(exposure)


def attribute_rate(
    sql: Sql,
    params: LeadParams,
    found: Found,
    kind: str,
    rule: str,
    title: str,
    weight: float,
    events: Mapping[str, tuple[int, Sequence[str]]],
    exposure: Mapping[str, tuple[float, str | None]],
    what: str,
    *,
    totals: tuple[float, int] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Test each entity's events against everyone else's rate; record the hits (a relative
    risk of at least ``2 ** params.min_log2_rr``)."""
    min_rr = 2**params.min_log2_rr
    if not events:
        return
    n_all, tested = totals if totals is not None else _totals(sql, kind)
    k_all = sum(k for k, _ in events.values())
    gate = surprise_gate(params, tested)
    for ident, (k, setls) in events.items():
        n = exposure.get(ident, (float(k), None))[0]
        test = rate_test(k, n, loo_rate(k_all, n_all, k, n), prior=params.prior_events)
        hit = rate_hit(
            rule,
            title,
            weight,
            test,
            gate,
            min_rr=min_rr,
            what=what,
            extra=(extra or {}).get(ident),
            setl_ids=limited(setls, params),
        )
        if hit is not None:
            found.add(kind, ident, hit)


def counted(events: Mapping[str, Sequence[str]]) -> dict[str, tuple[int, Sequence[str]]]:
    """Each entity's events as (how many, their settlement ids), as :func:`attribute_rate`
    takes them."""
    return {ident: (len(setls), setls) for ident, setls in events.items()}


def fill_evidence(
    sql: Sql, events: dict[str, tuple[int, list[str]]], params: LeadParams, pairs_sql: str
) -> None:
    """Attach up to ``evidence_limit`` setl_ids per entity from a query of columns e, s."""
    limit = int(params.evidence_limit)
    for ident, setl in sql.rows(
        f"SELECT e, s FROM (SELECT e, s, ROW_NUMBER() OVER (PARTITION BY e ORDER BY s) AS rn "
        f"FROM (SELECT DISTINCT p.e, p.s FROM ({pairs_sql}) p) x) y WHERE rn <= {limit}"
    ):
        if ident in events:
            events[ident][1].append(setl)


class CardSale(NamedTuple):
    """One insurance sale of a card a rule singled out."""

    psn: str
    med: str
    inst: str
    day: int
    setl: str
    dr: str | None
    units: int | None
    """Units handed out: boxes times the drug's units per box, or the split pack's units."""
    at_s: int
    """The sale's time in seconds, as :meth:`Sql.epoch` counts them (``day`` is this in days)."""


CARDED = "rxtrace_lead_carded"
"""Every row of the cards whose sales the rules may read, read in one pass before they run
(:func:`fill_carded`), under ``dispensing``'s own names for the columns the card reads use: a
card read spelled over ``dispensing d`` reads the same rows from here."""

_CARDED_COLUMNS = (
    "psn_no TEXT, med_list_codg TEXT, fixmedins_code TEXT, sel_retn_time TIMESTAMP, setl_id TEXT, "
    "dr_code TEXT, trdn_flag INTEGER, sel_retn_cnt BIGINT, mdtrt_setl_type INTEGER, psn_name_masked TEXT"
)


def fill_carded(sql: Sql, cards_sql: str, params: Mapping[str, Any] | None = None) -> None:
    """Read every row of the cards ``cards_sql`` selects (one column, distinct) into
    :data:`CARDED`, for :func:`sales_of_cards` and :func:`card_names`. Where every sale is
    scanned to find a few cards (Spark) that is one pass for all the rules' card reads
    instead of one per read; on SQLite and PostgreSQL the same card index lookups."""
    sql.temp("rxtrace_lead_cards", "psn TEXT PRIMARY KEY", cards_sql, params)
    sql.temp(
        CARDED,
        _CARDED_COLUMNS,
        f"SELECT /*+ BROADCAST(c) */ {selected(_CARDED_COLUMNS, 'd')} "
        f"FROM rxtrace_lead_cards c JOIN dispensing d ON d.psn_no = c.psn",
    )
    sql.cache[CARDED] = frozenset(psn for (psn,) in sql.rows("SELECT psn FROM rxtrace_lead_cards"))


def _card_sources(sql: Sql, cards: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Where to read each card's rows: :data:`CARDED` for the cards read ahead, ``dispensing``
    (through the card index) for any other, each with its cards in order."""
    ahead: frozenset[str] = sql.cache.get(CARDED, frozenset())
    wanted = sorted(set(cards))
    sources = [
        (CARDED, [c for c in wanted if c in ahead]),
        ("dispensing", [c for c in wanted if c not in ahead]),
    ]
    return [(relation, chosen) for relation, chosen in sources if chosen]


def _cardset(sql: Sql, cards: Sequence[str]) -> None:
    sql.empty_temp("rxtrace_lead_cardset", "psn TEXT PRIMARY KEY")
    sql.fill("rxtrace_lead_cardset", ("psn",), [{"psn": c} for c in cards])


def sales_of_cards(sql: Sql, cards: Iterable[str], *, returns: bool = False) -> list[CardSale]:
    """The given cards' insurance sales (with ``returns``, their returns too): the evidence of
    the few cards a rule singled out."""
    fill_units(sql)
    epoch = sql.epoch("d.sel_retn_time")
    sold = "" if returns else " AND d.sel_retn_cnt > 0"
    sales: list[CardSale] = []
    for relation, chosen in _card_sources(sql, cards):
        _cardset(sql, chosen)
        sales.extend(
            CardSale(psn, med, inst, int(day), setl, dr, None if units is None else int(units), int(at_s))
            for psn, med, inst, day, setl, dr, units, at_s in sql.rows(
                f"SELECT d.psn_no, d.med_list_codg, d.fixmedins_code, {sql.quot(epoch, 86400)}, "
                f"d.setl_id, d.dr_code, "
                f"CASE WHEN d.trdn_flag = 0 THEN d.sel_retn_cnt * u.upb ELSE d.sel_retn_cnt END, {epoch} "
                f"FROM rxtrace_lead_cardset c JOIN {relation} d ON d.psn_no = c.psn "
                f"LEFT JOIN rxtrace_lead_upb u ON u.med = d.med_list_codg "
                f"WHERE {INS}{sold}"
            )
        )
    return sales


def card_names(sql: Sql, cards: Iterable[str]) -> dict[str, str]:
    """Each card's masked name, the first in order when its sales carry several (any sale,
    insurance or not); a card whose sales carry none has no entry."""
    names: dict[str, str] = {}
    for relation, chosen in _card_sources(sql, cards):
        _cardset(sql, chosen)
        for psn, name in sql.rows(
            f"SELECT d.psn_no, MIN(d.psn_name_masked) FROM rxtrace_lead_cardset c "
            f"JOIN {relation} d ON d.psn_no = c.psn "
            f"WHERE d.psn_name_masked IS NOT NULL GROUP BY d.psn_no"
        ):
            names[psn] = name
    return names


def drug_names(sql: Sql, meds: Iterable[str]) -> dict[str, str]:
    """The catalog's name of each drug code, for the words of a rule (the code itself when
    the catalog has no name for it)."""
    known: dict[str, str] = sql.cache.setdefault("drug_names", {})
    wanted = sorted(set(meds) - set(known))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join(f":m{i}" for i in range(len(chunk)))
        for med, name in sql.rows(
            f"SELECT med_list_codg, MIN(name) FROM catalog_product WHERE med_list_codg IN ({marks}) "
            f"GROUP BY med_list_codg",
            {f"m{i}": m for i, m in enumerate(chunk)},
        ):
            if name:
                known[med] = name
    return {med: known.get(med, med) for med in meds}
