"""Code rules: boxes settled twice or more (resold) and codes on two drugs (cloned)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from rxtrace.trace.codes import parse_code
from rxtrace.trace.errors import ParseError
from rxtrace.trace.investigate.basis import catalog_products
from rxtrace.trace.investigate.findings import (
    Found,
    attribute_rate,
    counted,
    exposure_of_cards,
    exposure_of_institutions,
    limited,
)
from rxtrace.trace.investigate.params import EPOCH, LeadParams, RuleHit
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.resolve.rules import Upload, is_resold, names_several_drugs, repeat_uploads

__all__ = ["rule_codes"]


def rule_codes(sql: Sql, params: LeadParams, found: Found, kinds: set[str]) -> None:
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
    seized_mismatch = {
        (hi, lo)
        for hi, lo in sql.rows(
            "SELECT DISTINCT hi, lo FROM rxtrace_lead_seized_sales "
            "WHERE box_med IS NOT NULL AND med <> box_med"
        )
    }
    # The candidate codes' and the seized boxes' insurance rows were read with the seized
    # boxes (rxtrace_lead_keyed).
    rows = sql.rows(
        """
        SELECT d.key_hi, d.key_lo, d.id, d.setl_id, d.sel_retn_time, d.fixmedins_code,
               d.psn_no, d.dr_code, d.med_list_codg, d.trdn_flag, d.sel_retn_cnt,
               d.hifp_pay_fen, d.drug_trac_codg, d.rxno, d.at_s
        FROM (SELECT key_hi AS hi, key_lo AS lo FROM lead_basis_code
              UNION SELECT hi, lo FROM rxtrace_lead_seized_sales
              WHERE box_med IS NOT NULL AND med <> box_med) c
        JOIN rxtrace_lead_keyed d ON d.key_hi = c.hi AND d.key_lo = c.lo
        """,
    )
    upb_of: dict[str, int] = {
        med: int(upb) for med, upb in sql.rows("SELECT med, upb FROM rxtrace_lead_upb WHERE upb IS NOT NULL")
    }
    seized_box_med = {
        (hi, lo): med
        for hi, lo, med in sql.rows("SELECT hi, lo, MAX(box_med) FROM rxtrace_lead_seized GROUP BY hi, lo")
    }
    code_rows: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for row in rows:
        code_rows[(row.key_hi, row.key_lo)].append(row)
    by_code: dict[tuple[int, int], list[Any]] = {}
    code_upb: dict[tuple[int, int], int | None] = {}
    bad_rows: dict[tuple[int, int], list[Any]] = {}
    repeated: dict[tuple[int, int], list[Any]] = {}
    for key, all_rows in code_rows.items():
        # One sale uploaded twice by the counter program is not a resale: left out here,
        # named in the evidence.
        repeats = repeat_uploads([_upload(r) for r in all_rows]) if len(all_rows) > 1 else set()
        if repeats:
            repeated[key] = [r for i, r in enumerate(all_rows) if i in repeats]
            all_rows = code_rows[key] = [r for i, r in enumerate(all_rows) if i not in repeats]
        net_whole = sum(r.sel_retn_cnt for r in all_rows if not r.trdn_flag)
        net_units = sum(r.sel_retn_cnt for r in all_rows if r.trdn_flag)
        meds = {r.med_list_codg for r in all_rows}
        first_upb = upb_of.get(min(meds))
        if is_resold(net_whole, net_units, first_upb) or names_several_drugs(meds):
            by_code[key] = all_rows
            code_upb[key] = first_upb
        elif key in seized_mismatch:
            # Not flagged by its sales, only by the seized box: each sale's own drug says
            # how many units its box holds.
            by_code[key] = all_rows
            ordered = sorted(all_rows, key=lambda r: (r.sel_retn_time, r.id))
            code_upb[key] = next(
                (upb_of[r.med_list_codg] for r in ordered if upb_of.get(r.med_list_codg)), None
            )
        bad = [
            r
            for r in all_rows
            if r.key_hi > 0 and products.get(r.key_hi // 1000, r.med_list_codg) != r.med_list_codg
        ]
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
            hits.append(
                RuleHit(
                    "resold",
                    "Resold or re-dispensed box",
                    params.w_resold * (1 + min(math.log2(extra), 3)),
                    f"settled {whole} whole box(es) net"
                    + (f" and {units} split unit(s)" if units else "")
                    + f": {extra} sale(s) of a box already dispensed",
                    {
                        "net_boxes": whole,
                        "split_units": units,
                        "units_per_box": upb,
                        "resales": extra,
                        "institutions": sorted({r.fixmedins_code for r in resales}),
                        "cards": sorted({r.psn_no for r in sales}),
                        "fund_fen": sum(r.hifp_pay_fen for r in sales),
                        "setl_ids": limited((r.setl_id for r in sales), params),
                        "repeat_uploads": [r.setl_id for r in repeated.get(key, [])],
                    },
                )
            )
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
        if names_several_drugs(drugs):
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
            reasons.append(
                "the code's product identifier belongs to another drug than "
                f"{', '.join(sorted({r.med_list_codg for r in bad}))}"
            )
            clone_rows += bad
        if reasons:
            hits.append(
                RuleHit(
                    "cloned",
                    "Cloned code",
                    params.w_clone * min(len(reasons), 2),
                    "; ".join(reasons),
                    {
                        "drugs": all_drugs,
                        "box_med_list_codg": box_med,
                        "institutions": sorted({r.fixmedins_code for r in clone_rows}),
                        "setl_ids": limited((r.setl_id for r in clone_rows), params),
                    },
                )
            )
            for r in {r.id: r for r in clone_rows}.values():
                clone_by_inst[r.fixmedins_code].append(r.setl_id)
        if hits:
            found.code_ids.setdefault(ident, _key_text(key[0], key[1], code_rows[key][0].drug_trac_codg))
            if key in seized_box_med:
                hits.append(
                    RuleHit(
                        "seized_code",
                        "Code found on a seized box",
                        1.0,
                        "this code was read off a seized box",
                        {"setl_ids": []},
                    )
                )
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
        inst_exposure = exposure_of_institutions(sql)
        attribute_rate(
            sql,
            params,
            found,
            "institution",
            "resold_at",
            "Sold boxes already dispensed",
            params.w_resold,
            counted(resale_by_inst),
            inst_exposure,
            "sales of an already-dispensed box",
        )
        attribute_rate(
            sql,
            params,
            found,
            "institution",
            "cloned_at",
            "Sold cloned codes",
            params.w_clone,
            counted(clone_by_inst),
            inst_exposure,
            "sales of a cloned code",
        )
    if cards_resold:
        exposure = exposure_of_cards(sql, cards_resold)
        attribute_rate(
            sql,
            params,
            found,
            "card",
            "resold_card",
            "Card on resold boxes",
            params.w_resold,
            {c: (len(v), sorted(card_setls[c])) for c, v in cards_resold.items()},
            exposure,
            "purchases of a box settled twice",
        )


def _upload(row: Any) -> Upload:
    return Upload(
        institution=row.fixmedins_code,
        setl_id=row.setl_id,
        rxno=row.rxno or None,
        drug=row.med_list_codg,
        split=int(row.trdn_flag),
        quantity=int(row.sel_retn_cnt),
        at=EPOCH + timedelta(seconds=int(row.at_s)),
    )


def _resales(sales: Sequence[Any], upb: int | None) -> list[Any]:
    """The sales of a box already dispensed: the later sales, once the box is used up. This
    is :func:`~rxtrace.trace.resolve.rules.is_resold` told sale by sale, in time order, to
    name the sales that resold the box."""
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
