"""What the maps read from the database: case points, hot spots and courier routes.

Everything a caller needs is a session and, optionally, a case; the same calls serve the
command line, the web demo and the dossier. Results are identical on SQLite and PostgreSQL:
queries return rows in a fixed order, and the one spatial join done in SQL on PostGIS
(``ST_DWithin`` on the sphere) measures exactly as the Python fallback does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from rxtrace.geo import boundaries
from rxtrace.geo.hotspots import HotspotResult, Incident, find_hotspots
from rxtrace.geo.layers import LAYERS, Layer
from rxtrace.geo.routes import FlagRules, Route, WaybillPoint, build_routes, shanghai_district
from rxtrace.trace.errors import CaseNotFoundError, RxtraceError
from rxtrace.trace.gcpause import collector_paused
from rxtrace.trace.resolve.service import DatabaseLookups, PartyRow, Place, seized_boxes
from rxtrace.trace.store import models

__all__ = [
    "LAYERS",
    "CasePoints",
    "DatabasePoints",
    "Layer",
    "MapPoint",
    "PointSource",
    "SeizureSite",
    "case_ids",
    "case_points",
    "has_postgis",
    "hotspots",
    "hotspots_of",
    "near_seizure_sites",
    "points_of",
    "routes",
]

_CHUNK = 500
BoxKey = str  # the box key, as rxtrace.trace.codes makes it


@dataclass(frozen=True)
class MapPoint:
    """A located thing of a case: a seizure site, a card's residence or an institution."""

    kind: str
    id: str
    lon: float
    lat: float
    label: str
    when: datetime | None = None
    info: Incident = field(default_factory=Incident)

    def to_feature(self, fund_fen: int | None = None) -> dict[str, Any]:
        props: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "label": self.label,
            "when": self.when.isoformat() if self.when else None,
            "seizures": list(self.info.seizures),
            "cards": len(self.info.cards),
            "boxes": len(self.info.boxes),
        }
        if fund_fen is not None:
            props["fund_yuan"] = f"{fund_fen / 100:.2f}"
        return {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
        }


@dataclass(frozen=True)
class CasePoints:
    """The located points of a case (or of every case), with the fund paid per seized box.

    ``layers`` says which layers were read (a hot spot analysis reads one); the others are
    empty, and asking for one of them is a mistake in the caller, not an empty map."""

    case_id: str | None
    seizures: tuple[MapPoint, ...]
    residences: tuple[MapPoint, ...]
    institutions: tuple[MapPoint, ...]
    box_fund: dict[BoxKey, int]
    unlocated: dict[str, int]
    layers: tuple[str, ...] = LAYERS

    def layer(self, name: str) -> tuple[MapPoint, ...]:
        _check_layers((name,))
        if name not in self.layers:
            raise ValueError(f"the points were read for {', '.join(self.layers)}, not {name}")
        points: tuple[MapPoint, ...] = getattr(self, name)
        return points

    def fund_of(self, point: MapPoint) -> int:
        return sum(self.box_fund.get(b, 0) for b in point.info.boxes)


def _check_layers(names: Iterable[str]) -> None:
    for name in names:
        if name not in LAYERS:
            raise RxtraceError(f"unknown layer {name!r}: choose one of {', '.join(LAYERS)}")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _scope_seizures(session: Session, case_id: str | None) -> list[models.Seizure]:
    query = select(models.Seizure).order_by(models.Seizure.seizure_id)
    if case_id is not None:
        query = query.where(models.Seizure.case_id == case_id)
    found = list(session.scalars(query))
    if case_id is not None and not found:
        raise CaseNotFoundError(case_id)
    return found


class SeizureSite(Protocol):
    """What a map shows of a seizure (a stored row, or one read elsewhere)."""

    @property
    def seizure_id(self) -> str: ...
    @property
    def lon(self) -> float | None: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def place_kind(self) -> str | None: ...
    @property
    def seized_at(self) -> datetime | None: ...


class PointSource(Protocol):
    """Where a case's points are read from: the database, or a cluster's files. The points,
    and every hot spot made of them, come from the same code whichever answers."""

    def seizures(self, case_id: str | None) -> list[SeizureSite]:
        """The case's seizures (every seizure without a case), by id."""

    def seized_boxes(self, seizure_ids: Sequence[str]) -> dict[str, set[str]]:
        """Each seizure's box keys (a case code standing for the boxes under it)."""

    def party_rows(self, keys: Sequence[str]) -> list[PartyRow]:
        """The insurance rows of these boxes: whom each names, what the fund paid."""

    def residences(self, cards: Sequence[str]) -> list[tuple[str, float | None, float | None]]:
        """(card, lon, lat) of the insured persons of these cards."""

    def places(self, institutions: Sequence[str]) -> list[Place]:
        """(code, lon, lat, name) of these institutions."""


class DatabasePoints:
    """:class:`PointSource` from the database."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # One batch of keys for both questions: the boxes under the case codes, then their
        # sales (the same keys where no carton was read: filled once, not twice).
        self.lookups = DatabaseLookups(session)

    def seizures(self, case_id: str | None) -> list[SeizureSite]:
        return list(_scope_seizures(self.session, case_id))

    def seized_boxes(self, seizure_ids: Sequence[str]) -> dict[str, set[str]]:
        return seized_boxes(seizure_ids, session=self.session, lookups=self.lookups)

    def party_rows(self, keys: Sequence[str]) -> list[PartyRow]:
        return self.lookups.party_rows(keys)

    def residences(self, cards: Sequence[str]) -> list[tuple[str, float | None, float | None]]:
        person = models.InsuredPerson
        return [
            (psn, lon, lat)
            for chunk in _chunks(sorted(cards))
            for psn, lon, lat in self.session.execute(
                select(person.psn_no, person.lon, person.lat).where(person.psn_no.in_(chunk))
            )
        ]

    def places(self, institutions: Sequence[str]) -> list[Place]:
        place = models.Institution
        return [
            (code, lon, lat, name)
            for chunk in _chunks(sorted(institutions))
            for code, lon, lat, name in self.session.execute(
                select(place.fixmedins_code, place.lon, place.lat, place.name).where(
                    place.fixmedins_code.in_(chunk)
                )
            )
        ]


def case_points(
    *, session: Session, case_id: str | None = None, layers: Sequence[str] = LAYERS
) -> CasePoints:
    """Seizure sites, residences of the cards whose seized boxes the fund paid for, and the
    institutions that sold them; a case's parent codes stand for the boxes inside. Only the
    ``layers`` asked are read (the homes of every card are a query of their own)."""
    return points_of(DatabasePoints(session), case_id, layers=layers)


def points_of(
    source: PointSource, case_id: str | None = None, *, layers: Sequence[str] = LAYERS
) -> CasePoints:
    """:func:`case_points` from any :class:`PointSource`."""
    _check_layers(layers)
    # A big case's points are millions of small objects (rows, sets, incidents) alive until
    # the end and holding no cycles: the collector walked them all, again and again.
    with collector_paused():
        return _points_of(source, case_id, layers)


def _points_of(source: PointSource, case_id: str | None, layers: Sequence[str]) -> CasePoints:
    asked = tuple(name for name in LAYERS if name in layers)
    seizures = source.seizures(case_id)
    if case_id is not None and not seizures:
        raise CaseNotFoundError(case_id)
    by_id = {s.seizure_id: s for s in seizures}
    # The same seizure → box → insurance-sale join as resolution, from the one place it lives.
    boxes_of = source.seized_boxes(sorted(by_id))
    all_boxes = sorted({b for bs in boxes_of.values() for b in bs})
    box_fund, box_cards, box_insts = _box_parties(all_boxes, source)
    seizures_of_box: dict[BoxKey, set[str]] = defaultdict(set)
    for sid, bs in boxes_of.items():
        for b in bs:
            seizures_of_box[b].add(sid)

    unlocated: dict[str, int] = defaultdict(int)
    seizure_points = []
    for s in seizures if "seizures" in asked else ():
        bs = boxes_of.get(s.seizure_id, set())
        cards = sorted({c for b in bs for c in box_cards.get(b, ())})
        if s.lon is None or s.lat is None:
            unlocated["seizures"] += 1
            continue
        seizure_points.append(
            MapPoint(
                "seizure",
                s.seizure_id,
                s.lon,
                s.lat,
                s.address or s.place_kind or s.seizure_id,
                s.seized_at,
                Incident((s.seizure_id,), tuple(cards), tuple(sorted(bs))),
            )
        )
    residence_points: list[MapPoint] = []
    if "residences" in asked:
        card_boxes = _owners(box_cards)
        residence_points = _residence_points(card_boxes, seizures_of_box, source)
        unlocated["residences"] = len(card_boxes) - len(residence_points)
    institution_points: list[MapPoint] = []
    if "institutions" in asked:
        inst_boxes = _owners(box_insts)
        institution_points = _institution_points(inst_boxes, seizures_of_box, box_cards, source)
        unlocated["institutions"] = len(inst_boxes) - len(institution_points)
    return CasePoints(
        case_id,
        tuple(seizure_points),
        tuple(residence_points),
        tuple(institution_points),
        dict(box_fund),
        {k: v for k, v in unlocated.items() if v},
        asked,
    )


def _box_parties(
    boxes: list[BoxKey], source: PointSource
) -> tuple[dict[BoxKey, int], dict[BoxKey, set[str]], dict[BoxKey, set[str]]]:
    """Per seized box: the fund money its sales took (returns count negative), and the cards
    and institutions of its sales (returns left out)."""
    box_fund: dict[BoxKey, int] = defaultdict(int)
    box_cards: dict[BoxKey, set[str]] = defaultdict(set)
    box_insts: dict[BoxKey, set[str]] = defaultdict(set)
    for key, psn_no, fixmedins_code, fund_fen, sel_retn_type in source.party_rows(boxes):
        box_fund[key] += fund_fen
        if sel_retn_type != "return":
            box_cards[key].add(psn_no)
            box_insts[key].add(fixmedins_code)
    return box_fund, box_cards, box_insts


def _owners(index: dict[BoxKey, set[str]]) -> dict[str, set[BoxKey]]:
    """Box → names turned round: name → its boxes."""
    out: dict[str, set[BoxKey]] = defaultdict(set)
    for b, names in index.items():
        for n in names:
            out[n].add(b)
    return out


def _residence_points(
    card_boxes: dict[str, set[BoxKey]], seizures_of_box: dict[BoxKey, set[str]], source: PointSource
) -> list[MapPoint]:
    """Where each card's holder lives (those with a location), with the boxes bought on it."""
    points = []
    for psn, lon, lat in source.residences(sorted(card_boxes)):
        bs = card_boxes[psn]
        if lon is None or lat is None:
            continue
        sids = sorted(set().union(*map(seizures_of_box.__getitem__, bs)))
        points.append(
            MapPoint("residence", psn, lon, lat, psn, None, Incident(tuple(sids), (psn,), tuple(sorted(bs))))
        )
    points.sort(key=lambda p: p.id)
    return points


def _institution_points(
    inst_boxes: dict[str, set[BoxKey]],
    seizures_of_box: dict[BoxKey, set[str]],
    box_cards: dict[BoxKey, set[str]],
    source: PointSource,
) -> list[MapPoint]:
    """Where each institution that sold the boxes is (those with a location)."""
    points = []
    for code, lon, lat, name in source.places(sorted(inst_boxes)):
        bs = inst_boxes[code]
        if lon is None or lat is None:
            continue
        # Unions of the boxes' sets, in C: the same sets as a comprehension over every box
        # of every institution (2.3 s for a million boxes) in about half the time.
        sids = sorted(set().union(*map(seizures_of_box.__getitem__, bs)))
        cards = sorted(set().union(*map(box_cards.__getitem__, bs)))
        points.append(
            MapPoint(
                "institution",
                code,
                lon,
                lat,
                name,
                None,
                Incident(tuple(sids), tuple(cards), tuple(sorted(bs))),
            )
        )
    points.sort(key=lambda p: p.id)
    return points


def hotspots(
    *,
    session: Session,
    case_id: str | None = None,
    layer: str = "residences",
    points: CasePoints | None = None,
    **options: Any,
) -> HotspotResult:
    """Gi* hot cells and compound clusters of one layer of a case (or of every case).

    ``options`` go to :func:`rxtrace.geo.hotspots.find_hotspots` (resolution, permutations,
    min_occupied, eps_m, min_samples, seed).
    """
    pts = points if points is not None else case_points(session=session, case_id=case_id, layers=(layer,))
    return hotspots_of(pts, case_id=case_id, layer=layer, **options)


def hotspots_of(points: CasePoints, *, case_id: str | None, layer: str, **options: Any) -> HotspotResult:
    """:func:`hotspots` of points read from any source."""
    pts = points
    layer_points = pts.layer(layer)
    result = find_hotspots(
        [p.lon for p in layer_points],
        [p.lat for p in layer_points],
        info=[p.info for p in layer_points],
        box_fund=pts.box_fund,
        layer=layer,
        case_id=case_id,
        **options,
    )
    if pts.unlocated.get(layer):
        from dataclasses import replace

        result = replace(result, notes=(*result.notes, f"{pts.unlocated[layer]} {layer} without coordinates"))
    return result


def has_postgis(session: Session) -> bool:
    """Whether the database is PostgreSQL with the PostGIS extension installed in it."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return session.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is not None


def near_seizure_sites(
    *, session: Session, case_id: str | None = None, near_m: float = 500.0, use_sql: bool | None = None
) -> dict[str, list[str]]:
    """Waybill number → seizure sites within ``near_m`` metres of its sender (great circle).

    On PostGIS the join runs in SQL (``ST_DWithin`` on geography, sphere); elsewhere, or with
    ``use_sql=False``, in Python on the same sphere, so both give the same pairs.
    """
    sql = has_postgis(session) if use_sql is None else use_sql
    out: dict[str, list[str]] = defaultdict(list)
    if sql:
        case_clause = "AND s.case_id = :case_id" if case_id is not None else ""
        rows = session.execute(
            text(f"""
            SELECT w.waybill_no, s.seizure_id
            FROM waybill w JOIN seizure s
              ON ST_DWithin(ST_SetSRID(ST_MakePoint(w.sender_lon, w.sender_lat), 4326)::geography,
                            ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography, :near, false)
            WHERE w.sender_lon IS NOT NULL AND w.sender_lat IS NOT NULL
              AND s.lon IS NOT NULL AND s.lat IS NOT NULL {case_clause}
            ORDER BY w.waybill_no, s.seizure_id
        """),
            {"near": near_m, "case_id": case_id},
        )
        for no, sid in rows:
            out[no].append(sid)
        return dict(out)
    sites = [
        (s.seizure_id, s.lon, s.lat)
        for s in _scope_seizures(session, case_id)
        if s.lon is not None and s.lat is not None
    ]
    if not sites:
        return {}
    # A box around each site first: cheap in SQL, and it keeps the Python work to candidates.
    lat_pad = near_m / 111_000.0 * 1.01
    for sid, slon, slat in sites:
        lon_pad = lat_pad / max(math.cos(math.radians(slat)), 0.01)
        w = models.Waybill
        rows = session.execute(
            select(w.waybill_no, w.sender_lon, w.sender_lat).where(
                w.sender_lon.between(slon - lon_pad, slon + lon_pad),
                w.sender_lat.between(slat - lat_pad, slat + lat_pad),
            )
        )
        for no, wlon, wlat in rows:
            if boundaries.haversine_m(wlon, wlat, slon, slat) <= near_m:
                out[no].append(sid)
    return {k: sorted(v) for k, v in sorted(out.items())}


def _waybills(session: Session) -> list[WaybillPoint]:
    out = []
    w = models.Waybill
    for row in session.execute(select(w).order_by(w.waybill_no)).scalars():
        frm = shanghai_district(row.sender_adcode, row.sender_lon, row.sender_lat)
        if frm is None:
            continue  # not sent from Shanghai: outside these routes
        to = boundaries.city_of(row.receiver_adcode)
        if to.startswith("31"):
            continue  # delivered within Shanghai: not an outbound route
        out.append(
            WaybillPoint(
                row.waybill_no,
                row.ship_time,
                frm,
                to,
                row.weight_kg,
                row.pieces,
                row.declared_content,
                row.sender_lon,
                row.sender_lat,
            )
        )
    return out


def routes(
    *,
    session: Session,
    case_id: str | None = None,
    hotspot_result: HotspotResult | None = None,
    rules: FlagRules | None = None,
) -> list[Route]:
    """Courier routes out of Shanghai, flagged against the case's seizures and hot spots.

    Every outbound waybill on record makes the flows; a case (or, without one, every case)
    gives the seizure sites, seized waybills and hot spots the flags are judged against.
    ``hotspot_result`` defaults to the case's residence hot spots.
    """
    rules = rules or FlagRules()
    seizures = _scope_seizures(session, case_id)
    waybills = _waybills(session)
    known = {w.waybill_no for w in waybills}
    tied: dict[str, list[str]] = defaultdict(list)
    for s in seizures:
        if s.waybill_no and s.waybill_no in known:
            tied[s.waybill_no].append(s.seizure_id)
    anchors: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for no, sids in near_seizure_sites(session=session, case_id=case_id, near_m=rules.near_m).items():
        for sid in sids:
            anchors[no].append((f"seizure:{sid}", f"within {rules.near_m:,.0f} m of seizure site {sid}"))
    if seizures:
        hs = hotspot_result if hotspot_result is not None else hotspots(session=session, case_id=case_id)
        _hotspot_anchors(hs, waybills, rules, anchors)
    return build_routes(waybills, tied=tied, anchors=anchors, rules=rules)


def _hotspot_anchors(
    hs: HotspotResult,
    waybills: Sequence[WaybillPoint],
    rules: FlagRules,
    anchors: dict[str, list[tuple[str, str]]],
) -> None:
    import h3

    hot = {c.cell for c in hs.cells if c.bin >= 2}
    clusters = [c for c in hs.clusters if c.bin >= 2]
    for w in waybills:
        if w.sender_lon is None or w.sender_lat is None:
            continue
        if hot and hs.resolution is not None:
            cell = h3.latlng_to_cell(w.sender_lat, w.sender_lon, hs.resolution)
            if cell in hot:
                anchors[w.waybill_no].append((f"cell:{cell}", f"inside {hs.layer} hot spot {cell}"))
        for c in clusters:
            if boundaries.haversine_m(w.sender_lon, w.sender_lat, c.lon, c.lat) <= c.radius_m + rules.near_m:
                anchors[w.waybill_no].append(
                    (f"cluster:{c.cluster_id}", f"near {hs.layer} cluster {c.cluster_id} ({c.count} points)")
                )


def case_ids(*, session: Session) -> list[str]:
    """Every case with a seizure on record."""
    return list(
        session.scalars(
            select(models.Seizure.case_id)
            .group_by(models.Seizure.case_id)
            .order_by(func.min(models.Seizure.case_id))
        )
    )
