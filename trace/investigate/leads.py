"""Leads: which cards, institutions, doctors and codes deserve an investigator's time.

What every rule needs from all sales (settlements per institution, card windows, rows per card
and per doctor, codes on several rows) is summed up once per state of the data in the leads'
basis (:mod:`rxtrace.trace.investigate.basis`, set-based SQL over ``dispensing``), so the analysis runs
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

from sqlalchemy.orm import Session

from rxtrace.trace.errors import CaseNotFoundError, RxtraceError
from rxtrace.trace.investigate.basis import (
    INS,
    ensure_basis,
    fill_units,
)
from rxtrace.trace.investigate.findings import Found, card_names, drug_names, fill_carded
from rxtrace.trace.investigate.params import KINDS, Lead, LeadParams
from rxtrace.trace.investigate.rules_cards import rule_cross_institution, rule_small_visits
from rxtrace.trace.investigate.rules_codes import rule_codes
from rxtrace.trace.investigate.rules_covisits import rule_covisits
from rxtrace.trace.investigate.rules_doctors import rule_doctor_bursts, rule_doctor_fund_share
from rxtrace.trace.investigate.rules_institutions import rule_fund_share, rule_institution_shape
from rxtrace.trace.investigate.rules_mix import rule_no_treatment
from rxtrace.trace.investigate.rules_seized import rule_seized
from rxtrace.trace.investigate.rules_turns import rule_card_turns
from rxtrace.trace.investigate.sql import Sql, selected
from rxtrace.trace.resolve.rules import MAX_DEPTH

__all__ = ["DOCTOR_AT", "KEYED_COLUMNS", "check_question", "find_leads", "run_rules"]

DOCTOR_AT = "doctor at "
"""A doctor lead's name: where the doctor practises after this (the pages say it in their
language, the dossier lists the place)."""


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
    check_question(Sql(session), kind, case_id)
    # What every rule needs from all sales: kept from the last run or load while the data has
    # not grown, built again here otherwise.
    ensure_basis(session=session, params=params)
    return run_rules(Sql(session), kind=kind, case_id=case_id, params=params)


def check_question(sql: Sql, kind: str | None, case_id: str | None) -> None:
    """Refuse a kind of lead that does not exist, or a case with no seizure recorded, before
    any work is done."""
    if kind is not None and kind not in KINDS:
        raise RxtraceError(f"Unknown lead kind '{kind}': use one of {', '.join(KINDS)}.")
    if case_id is not None and not sql.rows(
        "SELECT seizure_id FROM seizure WHERE case_id = :case LIMIT 1", {"case": case_id}
    ):
        raise CaseNotFoundError(case_id)


def run_rules(sql: Sql, *, kind: str | None, case_id: str | None, params: LeadParams) -> list[Lead]:
    """Every rule over the basis in place (the ``lead_basis_*`` tables for ``params``), on any
    engine :class:`Sql` speaks: the leads, highest score first."""
    kinds = set(KINDS) if kind is None else {kind}
    found = Found()
    sql.tune()
    try:
        _fill_seized(sql, case_id)
        fill_units(sql)
        _fill_cards(sql, kinds, params)
        if kinds & {"code", "institution", "card"}:
            rule_codes(sql, params, found, kinds)
        if kinds & {"card", "institution", "doctor"}:
            rule_seized(sql, params, found, kinds)
        if "card" in kinds:
            rule_cross_institution(sql, params, found)
            rule_small_visits(sql, params, found)
            rule_card_turns(sql, params, found)
        if kinds & {"card", "institution"}:
            rule_covisits(sql, params, found, kinds)
        if "institution" in kinds:
            rule_institution_shape(sql, params, found)
        if kinds & {"card", "institution"}:
            rule_no_treatment(sql, params, found, kinds)
        own: set[str] = set()
        if "doctor" in kinds:
            own = rule_doctor_fund_share(sql, params, found)
            rule_doctor_bursts(sql, params, found)
        if kinds & {"institution", "card", "doctor"}:
            rule_fund_share(sql, params, found, own=own)
        scope = _case_scope(sql) if case_id is not None else None
        names = _names(sql, found, kinds)
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


KEYED_COLUMNS = (
    "key_hi BIGINT, key_lo BIGINT, id BIGINT, setl_id TEXT, sel_retn_time TIMESTAMP, "
    "fixmedins_code TEXT, psn_no TEXT, dr_code TEXT, med_list_codg TEXT, trdn_flag INTEGER, "
    "sel_retn_cnt BIGINT, hifp_pay_fen BIGINT, drug_trac_codg TEXT, rxno TEXT"
)
"""``rxtrace_lead_keyed``'s columns taken from ``dispensing`` (it adds ``at_s``, the sale's
time in seconds): what the seized boxes' sales and the code rule read of a key's rows."""


def _fill_seized(sql: Sql, case_id: str | None) -> None:
    """Seized boxes (a case code stands for every box under it), one row per box and seizure."""
    case_join = "JOIN seizure z ON z.seizure_id = sc.seizure_id AND z.case_id = :case" if case_id else ""
    # UNION drops a box reached twice as it goes; Spark walks only with UNION ALL, and the
    # depth bound and the GROUP BY below give the same rows.
    union = "UNION ALL" if sql.spark else "UNION"
    sql.temp(
        "rxtrace_lead_seized",
        "hi BIGINT NOT NULL, lo BIGINT NOT NULL, seizure_id TEXT, box_med TEXT",
        f"""
        WITH RECURSIVE walk(hi, lo, seizure_id, box_med, depth) AS (
            SELECT sc.key_hi, sc.key_lo, CAST(sc.seizure_id AS {sql.string}),
                   CAST(sc.box_med_list_codg AS {sql.string}), 0
            FROM seized_code sc {case_join}
            WHERE sc.key_hi IS NOT NULL
            {union}
            SELECT a.child_hi, a.child_lo, w.seizure_id, CAST(NULL AS {sql.string}), w.depth + 1
            FROM walk w JOIN aggregation a ON a.parent_hi = w.hi AND a.parent_lo = w.lo
            WHERE w.depth < {MAX_DEPTH}
        )
        SELECT hi, lo, seizure_id, MAX(box_med) FROM walk GROUP BY hi, lo, seizure_id
        """,
        {"case": case_id} if case_id else None,
    )
    # The insurance rows of every seized box and of every candidate code, read together: the
    # seized boxes' sales below and the code rule both read from here, so where every sale is
    # scanned to find a few keys (Spark) that is one pass instead of two. A few rows per key,
    # so small whatever the sales volume. (The hint is a comment to SQLite and PostgreSQL.)
    sql.temp(
        "rxtrace_lead_keyed",
        f"{KEYED_COLUMNS}, at_s BIGINT",
        f"""
        SELECT /*+ BROADCAST(k) */ {selected(KEYED_COLUMNS, "d")}, {sql.epoch("d.sel_retn_time")}
        FROM (SELECT hi, lo FROM rxtrace_lead_seized
              UNION SELECT key_hi, key_lo FROM lead_basis_code) k
        JOIN dispensing d ON d.key_hi = k.hi AND d.key_lo = k.lo
        WHERE {INS}
        """,
    )
    sql.temp(
        "rxtrace_lead_seized_sales",
        "id BIGINT, hi BIGINT, lo BIGINT, setl_id TEXT, inst TEXT, psn TEXT, dr TEXT, med TEXT, "
        "cnt BIGINT, trdn INTEGER, fen BIGINT, seizures BIGINT, box_med TEXT",
        """
        SELECT d.id, s.hi, s.lo, d.setl_id, d.fixmedins_code, d.psn_no, d.dr_code,
               d.med_list_codg, d.sel_retn_cnt, d.trdn_flag, d.hifp_pay_fen, s.n, s.box_med
        FROM (SELECT hi, lo, COUNT(DISTINCT seizure_id) AS n, MAX(box_med) AS box_med
              FROM rxtrace_lead_seized GROUP BY hi, lo) s
        JOIN rxtrace_lead_keyed d ON d.key_hi = s.hi AND d.key_lo = s.lo
        """,
    )


def _fill_cards(sql: Sql, kinds: set[str], params: LeadParams) -> None:
    """Read ahead, in one pass, the rows of every card whose sales the rules below may read
    for the kinds asked: the seized boxes' cards and the cards of the basis' flagged windows,
    visits, co-visits and drug mixes. Other cards only need their names once they are leads
    (a card on resold boxes, one billed at an institution whose fund share fired): those are
    read on their own, aggregated (``findings.card_names``); their rows here would cost more
    than they save (measured at 10 M sales: 23,000 cards' rows against 3,800)."""
    parts = []
    if kinds & {"card", "doctor"}:
        # DISTINCT: a card is here once per seized box, and asked alone (the doctors'
        # leads only) no UNION drops the repeats.
        parts.append("SELECT DISTINCT psn FROM rxtrace_lead_seized_sales WHERE cnt > 0")
    if "card" in kinds:
        parts += [
            "SELECT psn_no FROM lead_basis_window",
            "SELECT psn_no FROM lead_basis_visits",
        ]
    if kinds & {"card", "institution"}:
        parts += [
            "SELECT psn_a FROM lead_basis_covisit WHERE days >= :d",
            "SELECT psn_b FROM lead_basis_covisit WHERE days >= :d",
            "SELECT psn_no FROM lead_basis_mix",
        ]
    if parts:
        cards = " UNION ".join(parts)
        fill_carded(sql, cards, {"d": int(params.covisit_min_days)} if ":d" in cards else None)


def _case_scope(sql: Sql) -> dict[str, set[str]]:
    rows = sql.rows("SELECT psn, inst, dr, hi, lo FROM rxtrace_lead_seized_sales")
    keys = {f"{hi}:{lo}" for *_, hi, lo in rows}
    return {
        "card": {r[0] for r in rows},
        "institution": {r[1] for r in rows},
        "doctor": {r[2] for r in rows if r[2]},
        "code": keys,
    }


def _names(sql: Sql, found: Found, kinds: set[str]) -> dict[tuple[str, str], str | None]:
    """What each lead of the kinds asked is called: an institution's name, a doctor's
    institution (the first by code, as the basis names it, when a doctor sells at several), a
    card's masked name (the first in order, when its sales carry several), a code's drug.
    (The rules also find entities of kinds not asked, which are not returned; a run for other
    kinds may have no doctors' basis, ``basis.NEEDS``.)"""
    names: dict[tuple[str, str], str | None] = dict(found.names)
    asked = sorted((k, i) for k, i in found.hits if k in kinds)
    named = [{"kind": k, "ident": i} for k, i in asked if k in ("institution", "doctor")]
    if named:  # none in a run for codes or cards: no table, no query (a Spark job each)
        sql.empty_temp("rxtrace_lead_named", "kind TEXT, ident TEXT")
        sql.fill("rxtrace_lead_named", ("kind", "ident"), named)
        for code, name in sql.rows(
            "SELECT i.fixmedins_code, i.name FROM rxtrace_lead_named n "
            "JOIN institution i ON i.fixmedins_code = n.ident WHERE n.kind = 'institution'"
        ):
            names[("institution", code)] = name
    if named and "doctor" in kinds:
        for dr, name in sql.rows(
            "SELECT b.dr_code, i.name FROM rxtrace_lead_named n "
            "JOIN lead_basis_doctor b ON b.dr_code = n.ident "
            "JOIN institution i ON i.fixmedins_code = b.fixmedins_code WHERE n.kind = 'doctor'"
        ):
            names[("doctor", dr)] = f"{DOCTOR_AT}{name}"
    for psn, masked in card_names(sql, (i for k, i in asked if k == "card")).items():
        names.setdefault(("card", psn), masked)
    codes = {i for k, i in asked if k == "code"}
    meds = {med for c in codes if (med := names.get(("code", c)))}
    if meds:
        catalog = drug_names(sql, meds)
        for c in codes:
            med = names.get(("code", c))
            if med:
                names[("code", c)] = catalog[med]
    return names
