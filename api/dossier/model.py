"""Everything a case dossier shows, gathered once so every format says the same thing."""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.investigate import Lead, LeadParams, find_leads
from rxtrace.trace.investigate.basis import basis_info
from rxtrace.trace.investigate.graph import CaseGraph, build_case_graph
from rxtrace.trace.investigate.timeline import Timeline, case_timeline
from rxtrace.trace.protect import mask_id
from rxtrace.trace.resolve.rules import Ranked, Status
from rxtrace.trace.resolve.service import Resolution, resolve_case
from rxtrace.trace.store import models

__all__ = [
    "REPEAT_UPLOAD_TEXT",
    "STATUS_HELP_ZH",
    "STATUS_TEXT",
    "TERMS",
    "Dossier",
    "gather",
    "rxtrace_version",
]

# What each status means, for a reader who has never seen rxtrace.
STATUS_TEXT: dict[str, tuple[str, str]] = {
    str(Status.DISPENSED_REPEATEDLY): (
        "重复结算 settled again",
        "The insurance fund paid for this code two or more times (or split sales beyond one "
        "box): the box was sold again after it was dispensed, or its code was copied onto "
        "other boxes.",
    ),
    str(Status.DISPENSED): (
        "已结算 dispensed once",
        "The fund paid for this box once, to the card shown; the box was later found on the "
        "market instead of with the patient.",
    ),
    str(Status.SPLIT_PACK): (
        "拆零 split pack",
        "Only sold by the unit (split pack), within one box's units: usually legitimate.",
    ),
    str(Status.RETURNED): (
        "已退货 returned",
        "Every insurance sale of it was returned: the fund lost nothing on this box.",
    ),
    str(Status.NOT_DISPENSED): (
        "无医保销售 not dispensed",
        "A valid code with no insurance sale on record: the fund did not pay for it.",
    ),
    str(Status.MALFORMED): (
        "无效码 malformed",
        "Not a valid traceability code of a supported kind (misread, damaged or forged).",
    ),
}

# The same, in Chinese: the dossier shows both, the pages the reader's language.
# Beside a box whose second row repeats an upload of the same order minutes later
# (``repeat_uploads``): the reader must see that "dispensed repeatedly" may be one sale sent twice.
REPEAT_UPLOAD_TEXT = "同一结算数分钟内重复上传，可能为一次销售 / uploaded twice minutes apart, maybe one sale"
STATUS_HELP_ZH: dict[str, str] = {
    "dispensed_repeatedly": (
        "医保基金为此追溯码支付了两次或以上（或拆零超过一盒）："
        "药盒发放后又被再次销售，或追溯码被复制到其他药盒上。"
    ),
    "dispensed": "医保基金为此药盒支付过一次，付给所示医保卡；药盒后来出现在市场上，而非患者手中。",
    "split_pack": "仅按拆零销售，未超过一盒的数量：通常属正常。",
    "returned": "此码的每笔医保销售都已退货：基金在此药盒上没有损失。",
    "not_dispensed": "有效追溯码，但没有医保销售记录：基金未为其支付。",
    "malformed": "不是受支持的有效追溯码（误读、损坏或伪造）。",
}


TERMS: list[tuple[str, str, str]] = [
    ("追溯码", "traceability code", "The code printed on each box; every box has its own."),
    (
        "医保结算 / 结算ID (setl_id)",
        "insurance settlement",
        "One payment by the medical insurance fund for a visit; rxtrace traces boxes to these.",
    ),
    (
        "统筹基金支付 (hifp_pay)",
        "fund payment",
        "The amount the insurance fund paid; the fund's loss on a box is the sum over its sales.",
    ),
    (
        "定点医药机构 (fixmedins_code)",
        "designated institution",
        "The hospital, clinic or pharmacy that dispensed the box and billed the fund.",
    ),
    (
        "人员编号 (psn_no)",
        "insured person's card number",
        "Shown masked (3100****0051) unless the operator is allowed to see it.",
    ),
    ("拆零 (trdn_flag)", "split pack", "A box sold by the unit (tablets, ampoules)."),
    ("退货", "return", "A sale reversed; its quantity and payment count negative."),
    ("处方医生 (dr_code)", "prescribing doctor", ""),
    ("快递运单", "waybill", "A courier shipment in which seized boxes were found."),
]


def rxtrace_version() -> str:
    try:
        return importlib.metadata.version("rxtrace")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Dossier:
    case_id: str
    generated_at: datetime
    version: str
    resolution: Resolution
    leads: tuple[Lead, ...]
    chart: CaseGraph
    timeline: Timeline
    scan_sources: tuple[dict[str, Any], ...]
    loaded_files: tuple[dict[str, Any], ...]
    seizures: tuple[dict[str, Any], ...]
    parameters: dict[str, Any]
    reveal: bool
    drugs: tuple[tuple[str, int], ...]
    first_sale: datetime | None
    last_sale: datetime | None
    lead_words: tuple[tuple[tuple[str, str], ...], ...] = ()
    """Per lead, per rule: its plain words in Chinese and in English (drugs by name)."""
    maps: dict[str, bytes] = field(default_factory=dict)

    @property
    def summary(self) -> Any:
        return self.resolution.summary

    @property
    def fund_loss(self) -> Decimal:
        loss: Decimal = self.resolution.summary.fund_loss
        return loss

    def card(self, psn_no: str) -> str:
        return psn_no if self.reveal else mask_id(psn_no)

    def ranking(self, which: str, top: int = 15) -> list[Ranked]:
        items: list[Ranked] = getattr(self.summary, which)
        return sorted(items, key=lambda r: (-r.boxes, -r.fund, r.id))[:top]

    def box_rows(self) -> list[dict[str, Any]]:
        """One row per distinct box with its first source sale (the one that paid first)."""
        rows = []
        for i, box in enumerate(self.resolution.boxes, 1):
            first = next((s for s in box.sales if s.count > 0), box.sales[0] if box.sales else None)
            rows.append(
                {
                    "no": i,
                    "seizure_id": box.seizure_id,
                    "code": box.code,
                    "via_case": box.via_case,
                    "status": str(box.status),
                    "status_text": STATUS_TEXT[str(box.status)][0],
                    "product": (box.product or {}).get("name"),
                    "sales": len(box.sales),
                    "setl_id": first.setl_id if first else None,
                    "sale_time": first.time if first else None,
                    "institution": first.fixmedins_code if first else None,
                    "institution_name": first.institution if first else None,
                    "card": self.card(first.psn_no) if first else None,
                    "doctor": first.dr_code if first else None,
                    "drug": first.med_list_codg if first else None,
                    "fund_loss": box.fund_loss,
                    "clone": "; ".join(box.clone_reasons),
                    "all_setl_ids": ";".join(s.setl_id for s in box.sales),
                    "repeat_uploads": ";".join(box.repeat_uploads),
                }
            )
        return rows


def gather(
    case_id: str,
    *,
    session: Session,
    reveal: bool = False,
    params: LeadParams | None = None,
    maps: dict[str, bytes] | None = None,
    now: datetime | None = None,
) -> Dossier:
    """Resolve the case, find its leads, build its chart and timeline, collect the evidence."""
    params = params or LeadParams()
    resolution = resolve_case(case_id, session=session)
    leads = tuple(find_leads(session=session, case_id=case_id, params=params))
    lead_words = _lead_words(leads, session=session)
    chart = build_case_graph(case_id, session=session, reveal=reveal, resolution=resolution)
    timeline = case_timeline(case_id, session=session, reveal=reveal, resolution=resolution)
    seizures, scan_sources, loaded_files = _evidence(case_id, session=session)
    drugs, times = _drugs_and_times(resolution)
    return Dossier(
        case_id=case_id,
        generated_at=now or datetime.now().replace(microsecond=0),
        version=rxtrace_version(),
        resolution=resolution,
        leads=leads,
        lead_words=lead_words,
        chart=chart,
        timeline=timeline,
        scan_sources=scan_sources,
        loaded_files=loaded_files,
        seizures=seizures,
        parameters={
            "resolution": {
                "rule": "data contract v1 resolution table; only insurance-settled "
                "rows (mdtrt_setl_type = 1); returns count negative"
            },
            "leads": params.to_dict(),
            "leads_basis": _basis_parameters(session),
            "link_chart": {
                "centrality": "betweenness on the undirected chart",
                "hubs": "cards, institutions and doctors feeding two or more boxes, most boxes first",
            },
            "timeline": {"events": "sales and returns of the case's boxes, seizures, shipments"},
            "generated_on": platform.node() or "unknown",
        },
        reveal=reveal,
        drugs=drugs,
        first_sale=min(times) if times else None,
        last_sale=max(times) if times else None,
        maps=dict(maps or {}),
    )


_Rows = tuple[dict[str, Any], ...]


def _evidence(case_id: str, *, session: Session) -> tuple[_Rows, _Rows, _Rows]:
    """The case's seizures, the scans that read its boxes and every file loaded: what the
    evidence section lists, each with its hash."""
    seizure_rows = session.scalars(
        select(models.Seizure)
        .where(models.Seizure.case_id == case_id)
        .order_by(models.Seizure.seized_at, models.Seizure.seizure_id)
    ).all()
    sources = session.scalars(
        select(models.ScanSource)
        .where(models.ScanSource.seizure_id.in_([s.seizure_id for s in seizure_rows]))
        .order_by(models.ScanSource.seizure_id, models.ScanSource.id)
    ).all()
    files = session.scalars(select(models.LoadedFile).order_by(models.LoadedFile.id)).all()
    seizures = tuple(
        {
            "seizure_id": s.seizure_id,
            "seized_at": s.seized_at,
            "place_kind": s.place_kind,
            "address": s.address,
            "lon": s.lon,
            "lat": s.lat,
            "waybill_no": s.waybill_no,
        }
        for s in seizure_rows
    )
    scans = tuple(
        {
            "seizure_id": s.seizure_id,
            "path": s.path,
            "kind": s.kind,
            "frames": s.frames,
            "scanned_at": s.scanned_at,
            "sha256": s.sha256 or "(not recorded)",
        }
        for s in sources
    )
    loaded = tuple(
        {
            "path": f.path,
            "table": f.table_name,
            "rows": f.rows_taken,
            "status": f.status,
            "loaded_at": f.finished_at or f.started_at,
            "sha256": f.sha256,
        }
        for f in files
    )
    return seizures, scans, loaded


def _drugs_and_times(resolution: Resolution) -> tuple[tuple[tuple[str, int], ...], list[datetime]]:
    """Boxes per drug (most first) and every sale's time."""
    drug_counts: dict[str, int] = {}
    times: list[datetime] = []
    for box in resolution.boxes:
        name = (box.product or {}).get("name") or (box.sales[0].med_list_codg if box.sales else None)
        if name:
            drug_counts[name] = drug_counts.get(name, 0) + 1
        times.extend(s.time for s in box.sales)
    return tuple(sorted(drug_counts.items(), key=lambda kv: (-kv[1], kv[0]))), times


def _basis_parameters(session: Session) -> dict[str, Any]:
    """What the leads' basis was built from, and when: the leads were read from it."""
    info = basis_info(session=session)
    if info is None:
        return {}
    return {"built_at": info.built_at, **info.data, "build_seconds": info.seconds}


def date_range(dossier: Dossier) -> str:
    def day(value: datetime | date | None) -> str:
        return value.strftime("%Y-%m-%d") if value else "—"

    return f"{day(dossier.first_sale)} → {day(dossier.last_sale)}"


def _lead_words(leads: tuple[Lead, ...], *, session: Session) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each lead's rules in the words of the leads page: plain first, statistics in the appendix."""
    # Here, not at the top: the pages' word table itself reads this module's STATUS_TEXT.
    from rxtrace.api.documents import drug_names
    from rxtrace.api.web.i18n import explain_rule

    names = drug_names([r.evidence for lead in leads for r in lead.rules], session=session)
    return tuple(
        tuple(
            (
                explain_rule(r.rule, r.evidence, names, "zh-CN") or r.title,
                explain_rule(r.rule, r.evidence, names, "en") or r.detail,
            )
            for r in lead.rules
        )
        for lead in leads
    )
