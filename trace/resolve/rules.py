"""What a seized code resolves to: the contract's resolution table, as pure functions.

Only insurance-settled rows (``mdtrt_setl_type`` 1) count. Quantities and payments are signed
(a return is negative), so a code's net whole boxes, net split units and the fund's loss are
plain sums over its rows.

>>> from datetime import datetime
>>> sale = Sale("S1", None, datetime(2025, 1, 1), "C1", None, "P1", None, "X1", 0, 1, 4950)
>>> classify([sale], units_per_box=None)
<Status.DISPENSED: 'dispensed'>
>>> classify([sale, sale], units_per_box=None)
<Status.DISPENSED_REPEATEDLY: 'dispensed_repeatedly'>
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from rxtrace.trace.money import fen_to_yuan
from rxtrace.trace.protect import mask_id

__all__ = [
    "MAX_DEPTH",
    "REPEAT_UPLOAD_SECONDS",
    "BoxResolution",
    "Ranked",
    "Sale",
    "Status",
    "Summary",
    "Upload",
    "classify",
    "clone_reasons",
    "is_resold",
    "names_several_drugs",
    "repeat_uploads",
    "summarise",
]


MAX_DEPTH = 6
"""How deep a code is expanded through the packaging hierarchy (pallet > case > middle > box):
deeper chains are data errors, not packaging. Resolution and the leads' seized boxes both
expand cases this deep."""


_NO_LOSS = Decimal(0).scaleb(-2)  # what fen_to_yuan(0) gives: '0.00'


class Status(StrEnum):
    MALFORMED = "malformed"
    NOT_DISPENSED = "not_dispensed"
    RETURNED = "returned"
    DISPENSED = "dispensed"
    SPLIT_PACK = "split_pack"
    DISPENSED_REPEATEDLY = "dispensed_repeatedly"


class Sale(NamedTuple):
    """One insurance-settled dispensing row of a code (a sale, or a return with negatives).

    A named tuple, not a dataclass: a batch resolve builds one per row of the join, and a
    tuple is built straight from the row.
    """

    setl_id: str
    rxno: str | None
    time: datetime
    fixmedins_code: str
    institution: str | None
    psn_no: str
    dr_code: str | None
    med_list_codg: str
    trdn_flag: int
    count: int  # type: ignore[assignment]  # the field hides tuple.count, which no caller wants
    hifp_pay_fen: int
    sel_retn_type: str = "sale"

    @property
    def hifp_pay(self) -> Decimal:
        return fen_to_yuan(self.hifp_pay_fen)

    def upload(self) -> Upload:
        """What :func:`repeat_uploads` compares."""
        return Upload(
            institution=self.fixmedins_code,
            setl_id=self.setl_id,
            rxno=self.rxno,
            drug=self.med_list_codg,
            split=self.trdn_flag,
            quantity=self.count,
            at=self.time,
        )

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {
            "setl_id": self.setl_id,
            "rxno": self.rxno,
            "time": self.time,
            "fixmedins_code": self.fixmedins_code,
            "institution": self.institution,
            "psn_no": self.psn_no if reveal else mask_id(self.psn_no),
            "dr_code": self.dr_code,
            "med_list_codg": self.med_list_codg,
            "trdn_flag": self.trdn_flag,
            "sel_retn_type": self.sel_retn_type,
            "sel_retn_cnt": self.count,
            "hifp_pay": self.hifp_pay,
        }


def classify(sales: Sequence[Sale], units_per_box: int | None) -> Status:
    """The status of a well-formed code from its insurance rows.

    Split units beyond one box can only be told when the box's unit count is known; without
    it, split sales are taken as the legitimate kind.
    """
    if not sales:
        return Status.NOT_DISPENSED
    whole = sum(s.count for s in sales if not s.trdn_flag)
    units = sum(s.count for s in sales if s.trdn_flag)
    if whole <= 0 and units <= 0:
        return Status.RETURNED
    if is_resold(whole, units, units_per_box):
        return Status.DISPENSED_REPEATEDLY
    if whole == 1:
        return Status.DISPENSED
    return Status.SPLIT_PACK


def is_resold(whole: int, units: int, units_per_box: int | None) -> bool:
    """The resale rule, from a code's net insurance counts (returns subtracted): two whole
    boxes, a whole box and split units, or more split units than the box holds. Resolution
    calls such a box dispensed repeatedly; the leads call its code resold.

    >>> is_resold(2, 0, None), is_resold(1, 3, 10), is_resold(0, 12, 10), is_resold(0, 8, 10)
    (True, True, True, False)
    >>> is_resold(1, 0, 10), is_resold(0, 12, None)
    (False, False)
    """
    return whole >= 2 or (whole >= 1 and units > 0) or (units_per_box is not None and units > units_per_box)


REPEAT_UPLOAD_SECONDS = 600
"""How close in time two uploads of one code for one order must be to be one sale uploaded
twice. Pharmacy counter programs are known to send a code again when a settlement is retried
(seen minutes apart, never hours)."""


class Upload(NamedTuple):
    """What tells a repeated upload from a second sale: who sold, for which order (settlement
    or prescription), which drug and how (whole box or split units), and when."""

    institution: str
    setl_id: str
    rxno: str | None
    drug: str
    split: int
    quantity: int
    at: datetime


def repeat_uploads(uploads: Sequence[Upload], *, seconds: int = REPEAT_UPLOAD_SECONDS) -> set[int]:
    """The positions of the rows that repeat an earlier upload of the same code: a sale by the
    same institution, for the same order (the same settlement, or the same prescription), of
    the same drug in the same way, at most ``seconds`` after it. Such a row is the counter
    program sending the code twice, not the box sold twice: the resale rule leaves it out and
    says so. A row is compared with the sales kept before it, so three uploads of one sale
    keep one.

    >>> t = datetime(2025, 3, 1, 9, 0)
    >>> sale = Upload("P1", "S1", None, "XA", 0, 1, t)
    >>> sorted(repeat_uploads([sale, sale._replace(at=t.replace(minute=4))]))
    [1]
    >>> again = sale._replace(setl_id="S2", at=t.replace(minute=4))  # another settlement, no rx
    >>> later = sale._replace(at=t.replace(hour=11))  # the same settlement, two hours on
    >>> sorted(repeat_uploads([sale, again])), sorted(repeat_uploads([sale, later]))
    ([], [])
    >>> sorted(repeat_uploads([sale._replace(rxno="R1"), again._replace(rxno="R1")]))  # one prescription
    [1]
    """
    kept: list[Upload] = []
    repeats: set[int] = set()
    order = sorted(range(len(uploads)), key=lambda i: uploads[i].at)
    for i in order:
        row = uploads[i]
        if row.quantity > 0 and any(
            first.quantity > 0
            and first.institution == row.institution
            and (first.setl_id == row.setl_id or (row.rxno and first.rxno == row.rxno))
            and (first.drug, first.split, first.quantity) == (row.drug, row.split, row.quantity)
            and 0 <= (row.at - first.at).total_seconds() <= seconds
            for first in kept
        ):
            repeats.add(i)
        else:
            kept.append(row)
    return repeats


def names_several_drugs(drugs: Collection[str]) -> bool:
    """The clone rule on a code's sales: they name more than one drug (one box holds one drug).

    >>> names_several_drugs(["XA", "XA"]), names_several_drugs(["XA", "XB"])
    (False, True)
    """
    return len(set(drugs)) > 1


def clone_reasons(sales: Sequence[Sale], box_med_list_codg: str | None) -> tuple[str, ...]:
    """Why a code looks cloned: its sales name different drugs, or the box shows another drug."""
    reasons: list[str] = []
    drugs = sorted({s.med_list_codg for s in sales})
    if names_several_drugs(drugs):
        reasons.append(f"sales name {len(drugs)} different drugs: {', '.join(drugs)}")
    if box_med_list_codg and drugs and box_med_list_codg not in drugs:
        reasons.append(f"the box shows {box_med_list_codg}, the sale names {', '.join(drugs)}")
    return tuple(reasons)  # usually the empty tuple, which Python does not allocate


@dataclass(slots=True)
class BoxResolution:
    """One distinct box of a batch and what it resolved to."""

    code: str
    key: str | None
    family: str | None
    status: Status
    # Tuples by default: half a batch's boxes are never sold, and two empty lists for each
    # were most of the objects the collector walked after a resolve.
    sales: Sequence[Sale] = ()
    product: dict[str, Any] | None = None
    units_per_box: int | None = None
    clone_reasons: Sequence[str] = ()
    via_case: str | None = None
    seizure_id: str | None = None
    parse_error: str | None = None
    box_med_list_codg: str | None = None
    repeat_uploads: Sequence[str] = ()
    """The settlements of rows that repeat an earlier upload of this code for the same order
    (:func:`repeat_uploads`): counted as the contract counts them, named so a reader sees
    that a second row may be the counter program, not a second sale."""

    @property
    def fund_loss(self) -> Decimal:
        sales = self.sales
        if not sales:  # half a batch's boxes were never sold: the common case, kept cheap
            return _NO_LOSS
        if len(sales) == 1:
            return fen_to_yuan(sales[0].hifp_pay_fen)
        return fen_to_yuan(sum(s.hifp_pay_fen for s in sales))

    @property
    def clone_suspect(self) -> bool:
        return bool(self.clone_reasons)

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        return {
            "code": self.code,
            "key": self.key,
            "family": self.family,
            "status": str(self.status),
            "product": self.product,
            "sales": [s.to_dict(reveal=reveal) for s in self.sales],
            "fund_loss": self.fund_loss,
            "clone_suspect": self.clone_suspect,
            "clone_reasons": self.clone_reasons,
            "via_case": self.via_case,
            "seizure_id": self.seizure_id,
            "parse_error": self.parse_error,
            "box_med_list_codg": self.box_med_list_codg,
            "units_per_box": self.units_per_box,
            "repeat_uploads": self.repeat_uploads,
        }


class Ranked(NamedTuple):
    """A card, institution or doctor with the boxes and fund money traced to it.

    A named tuple, as :class:`Sale` is: a batch of 100,000 boxes ranks some 60,000 parties.
    """

    id: str
    name: str | None
    boxes: int
    fund: Decimal

    def to_dict(self, *, mask: bool = False) -> dict[str, Any]:
        return {
            "id": mask_id(self.id) if mask else self.id,
            "name": self.name,
            "boxes": self.boxes,
            "fund_loss": self.fund,
        }


@dataclass(frozen=True)
class Summary:
    boxes: int
    statuses: dict[str, int]
    fund_loss: Decimal
    clone_suspects: int
    cards: list[Ranked]
    institutions: list[Ranked]
    doctors: list[Ranked]

    def to_dict(self, *, reveal: bool = False, top: int = 10) -> dict[str, Any]:
        def ranking(items: list[Ranked], mask: bool) -> dict[str, list[dict[str, Any]]]:
            # The top few of tens of thousands: a heap, not a sort of them all (same order).
            by_boxes = heapq.nsmallest(top, items, key=lambda r: (-r.boxes, -r.fund, r.id))
            by_fund = heapq.nsmallest(top, items, key=lambda r: (-r.fund, -r.boxes, r.id))
            return {
                "by_boxes": [r.to_dict(mask=mask) for r in by_boxes],
                "by_fund": [r.to_dict(mask=mask) for r in by_fund],
            }

        return {
            "boxes": self.boxes,
            "statuses": self.statuses,
            "fund_loss": self.fund_loss,
            "clone_suspects": self.clone_suspects,
            "top_cards": ranking(self.cards, not reveal),
            "top_institutions": ranking(self.institutions, False),
            "top_doctors": ranking(self.doctors, False),
        }


class _Tally:
    """Boxes and fund money per party; a box counts once however many of its sales name it."""

    def __init__(self) -> None:
        self.entries: dict[str, list[Any]] = {}  # id -> [fen, boxes, last box seen, name]

    def add(self, ident: str, name: str | None, box: int, fen: int) -> None:
        entry = self.entries.get(ident)
        if entry is None:
            self.entries[ident] = [fen, 1, box, name]
            return
        entry[0] += fen
        if entry[2] != box:  # a box's sales come together: no set of boxes needed
            entry[2] = box
            entry[1] += 1

    def ranked(self) -> list[Ranked]:
        yuan: dict[int, Decimal] = {}  # most parties hold a box or two: few distinct sums
        out: list[Ranked] = []
        for ident, (fen, boxes, _, name) in self.entries.items():
            amount = yuan.get(fen)
            if amount is None:
                amount = yuan[fen] = fen_to_yuan(fen)
            out.append(Ranked(ident, name, boxes, amount))
        return out


def summarise(boxes: Sequence[BoxResolution]) -> Summary:
    counted = Counter(box.status for box in boxes)
    statuses = {str(s): counted.get(s, 0) for s in Status}
    cards, institutions, doctors = _Tally(), _Tally(), _Tally()
    total = suspects = 0
    for index, box in enumerate(boxes):
        if not box.sales:
            continue
        suspects += bool(box.clone_reasons)
        for sale in box.sales:
            fen = sale.hifp_pay_fen
            total += fen
            cards.add(sale.psn_no, None, index, fen)
            institutions.add(sale.fixmedins_code, sale.institution, index, fen)
            if sale.dr_code:
                doctors.add(sale.dr_code, sale.institution, index, fen)
    return Summary(
        boxes=len(boxes),
        statuses=statuses,
        fund_loss=fen_to_yuan(total),
        clone_suspects=suspects,
        cards=cards.ranked(),
        institutions=institutions.ranked(),
        doctors=doctors.ranked(),
    )
