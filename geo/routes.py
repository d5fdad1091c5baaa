"""Courier flows from Shanghai districts to destination cities, with the suspicious ones flagged.

A route is every waybill from one Shanghai district to one destination city (prefecture-level
adcode). Two rules flag waybills, and a route carries the flags of its waybills:

* **Tied to a seizure**: a seizure was made from the parcel (``seizure.waybill_no``).
* **Collection pattern**: at least ``min_repeats`` parcels that are heavy (``heavy_kg``), not
  declared as drugs, going to the same far city (``far_km``), all sent from near the same
  seizure site (``near_m``) or from inside the same hot spot (a significant Gi* cell or a
  compound cluster). One such parcel is ordinary; the repetition is the signal.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rxtrace.geo import boundaries

__all__ = [
    "FlagRules",
    "Route",
    "WaybillPoint",
    "build_routes",
    "is_drug_declaration",
    "routes_geojson",
    "shanghai_district",
]

_DRUG_WORDS = re.compile(
    r"药|藥|医疗|醫療|处方|胶囊|片剂|针剂|注射|drug|medic|pharm|pill|tablet", re.IGNORECASE
)
# Codes retired by district mergers: senders' address books keep using them for years.
_OBSOLETE_DISTRICTS = {"310103": "310101", "310108": "310106", "310230": "310151"}


def is_drug_declaration(declared: str | None) -> bool:
    """Whether a parcel's declared content names drugs (Chinese or English wording)."""
    return bool(declared) and _DRUG_WORDS.search(declared or "") is not None


def shanghai_district(adcode: str | None, lon: float | None, lat: float | None) -> str | None:
    """The Shanghai district of a sender: its code when it names one, else where its point lies."""
    if adcode:
        adcode = _OBSOLETE_DISTRICTS.get(adcode, adcode)
        if boundaries.district(adcode) is not None:
            return adcode
        if adcode.startswith("31") and (lon is None or lat is None):
            return "310100"
    if lon is not None and lat is not None:
        return boundaries.district_at(lon, lat)
    return None


@dataclass(frozen=True)
class WaybillPoint:
    """A waybill as the flagging rules see it."""

    waybill_no: str
    ship_time: datetime
    from_code: str
    to_code: str
    weight_kg: float | None
    pieces: int | None
    declared_content: str | None
    sender_lon: float | None = None
    sender_lat: float | None = None


@dataclass(frozen=True)
class FlagRules:
    near_m: float = 500.0
    heavy_kg: float = 2.0
    min_repeats: int = 3
    far_km: float = 300.0


@dataclass(frozen=True)
class Route:
    """Waybills from one Shanghai district to one destination city."""

    from_code: str
    from_name: str
    to_code: str
    to_name: str
    parcels: int
    pieces: int
    weight_kg: float
    flagged: bool
    why: tuple[str, ...]
    distance_km: float | None
    from_point: tuple[float, float] | None
    to_point: tuple[float, float] | None
    first_ship: datetime
    last_ship: datetime
    waybills: tuple[str, ...] = ()
    flagged_waybills: tuple[str, ...] = ()
    ship_days: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_code,
            "to": self.to_code,
            "parcels": self.parcels,
            "weight_kg": round(self.weight_kg, 3),
            "flagged": self.flagged,
            "why": list(self.why),
            "from_name": self.from_name,
            "to_name": self.to_name,
            "pieces": self.pieces,
            "distance_km": None if self.distance_km is None else round(self.distance_km, 1),
            "first_ship": self.first_ship,
            "last_ship": self.last_ship,
            "flagged_waybills": list(self.flagged_waybills),
        }

    def to_feature(self) -> dict[str, Any]:
        coords = [list(self.from_point), list(self.to_point)] if self.from_point and self.to_point else []
        return {
            "type": "Feature",
            "properties": {"kind": "route", **_jsonable(self.to_dict())},
            "geometry": {"type": "LineString", "coordinates": coords} if coords else None,
        }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()}


def routes_geojson(routes: Sequence[Route]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [r.to_feature() for r in routes]}


def _place(code: str) -> tuple[str, tuple[float, float] | None]:
    d = boundaries.district(code)
    if d is not None:
        return d.name, (d.lon, d.lat)
    c = boundaries.city(code)
    if c is not None:
        return c.name, (c.lon, c.lat)
    return code, None


def build_routes(
    waybills: Iterable[WaybillPoint],
    *,
    tied: Mapping[str, Sequence[str]],
    anchors: Mapping[str, Sequence[tuple[str, str]]],
    rules: FlagRules = FlagRules(),
) -> list[Route]:
    """Group waybills into routes and flag them, most suspicious first.

    ``tied`` maps a waybill number to the seizures made from it; ``anchors`` maps a waybill to
    what its sender is near: ``(label, readable)`` pairs such as ``("seizure:S1", "within 500 m
    of seizure site S1")`` or ``("cell:8831...", "inside residences hot spot 8831...")``.
    """
    by_route: dict[tuple[str, str], list[WaybillPoint]] = defaultdict(list)
    for w in waybills:
        by_route[(w.from_code, w.to_code)].append(w)
    reasons: dict[str, list[str]] = defaultdict(list)
    for no, seizures in tied.items():
        reasons[no].append(f"waybill {no} tied to seizure {', '.join(sorted(seizures))}")
    _flag_collection_patterns(by_route, anchors, rules, reasons)
    out = [_route(frm, to, items, reasons) for (frm, to), items in by_route.items()]
    tied_count = {r: sum(1 for n in r.flagged_waybills if n in tied) for r in out}
    out.sort(
        key=lambda r: (
            not r.flagged,
            -tied_count[r],
            -len(r.flagged_waybills),
            -r.weight_kg,
            -r.parcels,
            r.from_code,
            r.to_code,
        )
    )
    return out


def _flag_collection_patterns(
    by_route: Mapping[tuple[str, str], Sequence[WaybillPoint]],
    anchors: Mapping[str, Sequence[tuple[str, str]]],
    rules: FlagRules,
    reasons: dict[str, list[str]],
) -> None:
    """The collection pattern: heavy, far parcels not declared as drugs, sent again and again
    from near the same seizure site or hot spot to the same city. Adds the reason to each."""
    pattern: dict[tuple[str, str], list[WaybillPoint]] = defaultdict(list)
    readable: dict[str, str] = {}
    for (_from, to), items in by_route.items():
        for w in items:
            if w.weight_kg is None or w.weight_kg < rules.heavy_kg or is_drug_declaration(w.declared_content):
                continue
            dist = _distance_km(w)
            if dist is None or dist < rules.far_km:
                continue
            for label, text in anchors.get(w.waybill_no, ()):
                pattern[(to, label)].append(w)
                readable[label] = text
    for (to, label), items in sorted(pattern.items()):
        if len(items) < rules.min_repeats:
            continue
        declared = sorted({w.declared_content or "undeclared" for w in items})
        mean_kg = sum(w.weight_kg or 0.0 for w in items) / len(items)
        to_name, _ = _place(to)
        dist = _distance_km(items[0])
        text = (
            f"{len(items)} heavy parcels (mean {mean_kg:.1f} kg) declared as {'/'.join(declared)} "
            f"sent from {readable[label]} to {to_name} ({dist:,.0f} km)"
        )
        for w in items:
            if text not in reasons[w.waybill_no]:
                reasons[w.waybill_no].append(text)


def _route(frm: str, to: str, items: list[WaybillPoint], reasons: Mapping[str, list[str]]) -> Route:
    """One district-to-city flow, its parcels in shipping order and why it is flagged."""
    items.sort(key=lambda w: (w.ship_time, w.waybill_no))
    flagged = [w.waybill_no for w in items if reasons.get(w.waybill_no)]
    why: list[str] = []
    for no in flagged:
        for text in reasons[no]:
            if text not in why:
                why.append(text)
    from_name, from_pt = _place(frm)
    to_name, to_pt = _place(to)
    dist = (boundaries.haversine_m(*from_pt, *to_pt) / 1000.0) if from_pt and to_pt else None
    return Route(
        from_code=frm,
        from_name=from_name,
        to_code=to,
        to_name=to_name,
        parcels=len(items),
        pieces=sum(w.pieces or 1 for w in items),
        weight_kg=sum(w.weight_kg or 0.0 for w in items),
        flagged=bool(flagged),
        why=tuple(why),
        distance_km=dist,
        from_point=from_pt,
        to_point=to_pt,
        first_ship=items[0].ship_time,
        last_ship=items[-1].ship_time,
        waybills=tuple(w.waybill_no for w in items),
        flagged_waybills=tuple(flagged),
        ship_days=tuple(w.ship_time.date().isoformat() for w in items),
    )


def _distance_km(w: WaybillPoint) -> float | None:
    """From the sender's own point when known, else its district, to the destination city."""
    _, to_pt = _place(w.to_code)
    if to_pt is None:
        return None
    if w.sender_lon is not None and w.sender_lat is not None:
        start = (w.sender_lon, w.sender_lat)
    else:
        _, from_pt = _place(w.from_code)
        if from_pt is None:
            return None
        start = from_pt
    return boundaries.haversine_m(start[0], start[1], to_pt[0], to_pt[1]) / 1000.0
