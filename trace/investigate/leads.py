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

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.errors import CaseNotFoundError, RxtraceError
from rxtrace.trace.investigate.basis import (
    INS,
    ensure_basis,
    fill_units,
)
from rxtrace.trace.investigate.findings import Found
from rxtrace.trace.investigate.params import KINDS, Lead, LeadParams
from rxtrace.trace.investigate.rules_cards import rule_cross_institution, rule_small_visits
from rxtrace.trace.investigate.rules_codes import rule_codes
from rxtrace.trace.investigate.rules_covisits import rule_covisits
from rxtrace.trace.investigate.rules_doctors import rule_doctor_bursts, rule_doctor_fund_share
from rxtrace.trace.investigate.rules_institutions import rule_fund_share, rule_institution_shape
from rxtrace.trace.investigate.rules_mix import rule_no_treatment
from rxtrace.trace.investigate.rules_seized import rule_seized
from rxtrace.trace.investigate.rules_turns import rule_card_turns
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.resolve.rules import MAX_DEPTH
from rxtrace.trace.store import models

__all__ = ["DOCTOR_AT", "find_leads"]

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
    if kind is not None and kind not in KINDS:
        raise RxtraceError(f"Unknown lead kind '{kind}': use one of {', '.join(KINDS)}.")
    if (
        case_id is not None
        and session.scalar(
            select(models.Seizure.seizure_id).where(models.Seizure.case_id == case_id).limit(1)
        )
        is None
    ):
        raise CaseNotFoundError(case_id)
    kinds = set(KINDS) if kind is None else {kind}
    # What every rule needs from all sales: kept from the last run or load while the data has
    # not grown, built again here otherwise.
    ensure_basis(session=session, params=params)
    sql = Sql(session)
    found = Found()
    sql.tune()
    try:
        _fill_seized(sql, case_id)
        fill_units(sql)
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
            WHERE w.depth < {MAX_DEPTH}
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


def _names(sql: Sql, found: Found) -> dict[tuple[str, str], str | None]:
    names: dict[tuple[str, str], str | None] = dict(found.names)
    insts = {i for k, i in found.hits if k == "institution"}
    if insts:
        for code, name in sql.session.execute(
            select(models.Institution.fixmedins_code, models.Institution.name).where(
                models.Institution.fixmedins_code.in_(sorted(insts))
            )
        ):
            names[("institution", code)] = name
    doctors = sorted(i for k, i in found.hits if k == "doctor")
    for start in range(0, len(doctors), 500):
        # Shown at the institution the basis names for them: the first by code, when a
        # doctor sells at several.
        for dr, name in sql.session.execute(
            select(models.LeadBasisDoctor.dr_code, models.Institution.name)
            .join(
                models.Institution, models.Institution.fixmedins_code == models.LeadBasisDoctor.fixmedins_code
            )
            .where(models.LeadBasisDoctor.dr_code.in_(doctors[start : start + 500]))
        ):
            names[("doctor", dr)] = f"{DOCTOR_AT}{name}"
    cards = sorted(i for k, i in found.hits if k == "card")
    for start in range(0, len(cards), 500):
        for psn, masked in sql.session.execute(
            select(models.Dispensing.psn_no, models.Dispensing.psn_name_masked)
            .where(
                models.Dispensing.psn_no.in_(cards[start : start + 500]),
                models.Dispensing.psn_name_masked.is_not(None),
            )
            .distinct()
        ):
            names.setdefault(("card", psn), masked)
    codes = {i for k, i in found.hits if k == "code"}
    meds = {names.get(("code", c)) for c in codes} - {None}
    if meds:
        drug_names = dict(
            sql.session.execute(
                select(models.CatalogProduct.med_list_codg, models.CatalogProduct.name).where(
                    models.CatalogProduct.med_list_codg.in_(sorted(m for m in meds if m))
                )
            ).all()
        )
        for c in codes:
            med = names.get(("code", c))
            if med in drug_names:
                names[("code", c)] = drug_names[med]
    return names
