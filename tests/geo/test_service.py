"""Case points, hot spots and routes read from the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from geo_worlds import (
    SEIZURE_SITE,
    T0,
    add_seizure,
    add_waybill,
    collection_world,
    offset,
    small_case,
)
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.geo import service
from rxtrace.geo.hotspots import find_hotspots
from rxtrace.geo.routes import is_drug_declaration
from rxtrace.trace.errors import NotFoundError, RxtraceError


def test_case_points_follow_insurance_sales_of_seized_boxes(any_session: Session) -> None:
    small_case(any_session)
    pts = service.case_points(session=any_session, case_id="C1")
    assert [p.id for p in pts.seizures] == ["S1", "S2"]
    # P3 has no coordinates, P9's sale was self-paid, P7 belongs to another case.
    assert [p.id for p in pts.residences] == ["P1", "P2"]
    assert pts.unlocated == {"residences": 1}
    assert [p.id for p in pts.institutions] == ["I1", "I2"]
    s1 = pts.seizures[0]
    # The case code stands for boxes 1 and 2; box 1 read twice is one box.
    assert len(s1.info.boxes) == 2 and s1.info.cards == ("P1", "P2")
    assert pts.fund_of(s1) == 1_000  # box 2's sale was returned: the fund lost nothing on it
    assert pts.fund_of(pts.seizures[1]) == 550
    i2 = pts.institutions[1]
    assert i2.info.cards == ("P3",) and i2.info.seizures == ("S2",)


def test_unknown_case_is_not_found(any_session: Session) -> None:
    small_case(any_session)
    with pytest.raises(NotFoundError):
        service.case_points(session=any_session, case_id="NOPE")


class CountedPoints(service.DatabasePoints):
    """The database's points, counting the homes' and the places' reads."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.asked: list[str] = []

    def residences(self, cards):  # type: ignore[no-untyped-def]
        self.asked.append("residences")
        return super().residences(cards)

    def places(self, institutions):  # type: ignore[no-untyped-def]
        self.asked.append("places")
        return super().places(institutions)


@pytest.mark.parametrize(
    ("layer", "reads"), [("seizures", []), ("residences", ["residences"]), ("institutions", ["places"])]
)
def test_one_layer_reads_only_its_own_points_and_they_are_the_whole_reads(
    any_session: Session, layer: str, reads: list[str]
) -> None:
    small_case(any_session)
    whole = service.case_points(session=any_session, case_id="C1")
    source = CountedPoints(any_session)
    one = service.points_of(source, "C1", layers=(layer,))
    assert source.asked == reads
    assert one.layer(layer) == whole.layer(layer) and one.box_fund == whole.box_fund
    assert one.unlocated == {k: v for k, v in whole.unlocated.items() if k == layer}
    other = next(name for name in service.LAYERS if name != layer)
    with pytest.raises(ValueError, match=f"read for {layer}, not {other}"):
        one.layer(other)


def test_an_unknown_layer_is_refused_before_anything_is_read(any_session: Session) -> None:
    source = CountedPoints(any_session)
    with pytest.raises(RxtraceError, match="unknown layer 'homes': choose one of seizures, residences"):
        service.points_of(source, "NOPE", layers=("homes",))
    with pytest.raises(RxtraceError, match="unknown layer 'homes'"):
        service.hotspots(session=any_session, case_id="NOPE", layer="homes")


def test_hotspots_of_a_collection_area(any_session: Session) -> None:
    collection_world(any_session)
    result = service.hotspots(session=any_session, case_id="C2", layer="residences")
    assert result.n_points == 70
    hot = result.hot_cells
    assert hot and any(c.bin >= 2 for c in hot)
    top = hot[0]
    assert top.seizures and top.cards and top.fund_yuan > 0
    assert top.to_dict()["fund_yuan"].count(".") == 1


def _routes_case(
    session: Session,
    *,
    n: int = 4,
    weight: float = 3.0,
    declared: str | None = "日用品",
    east_m: float = 100.0,
    receiver: str = "230102",
) -> None:
    add_seizure(session, "R-S1", "R", *SEIZURE_SITE)
    for i in range(n):
        add_waybill(
            session,
            f"W{i:03d}",
            offset(*SEIZURE_SITE, east_m, 20.0 * i),
            receiver=receiver,
            weight=weight,
            declared=declared,
            when=T0 + timedelta(days=i),
        )
    # Ordinary traffic from elsewhere in the city.
    for i in range(5):
        add_waybill(
            session,
            f"X{i:03d}",
            offset(*SEIZURE_SITE, 8_000, 500.0 * i),
            receiver="440305",
            weight=1.0,
            declared="衣服",
            sender_adcode="310115",
        )
    session.flush()


def test_repeated_heavy_parcels_near_a_seizure_are_flagged(any_session: Session) -> None:
    _routes_case(any_session)
    routes = service.routes(session=any_session, case_id="R")
    top = routes[0]
    assert (top.from_code, top.to_code, top.parcels, top.flagged) == ("310104", "230100", 4, True)
    assert top.weight_kg == pytest.approx(12.0)
    assert len(top.why) == 1 and "seizure site R-S1" in top.why[0] and "哈尔滨市" in top.why[0]
    assert "日用品" in top.why[0]
    assert set(top.flagged_waybills) == {"W000", "W001", "W002", "W003"}
    others = [r for r in routes if r.to_code == "440300"]
    assert len(others) == 1 and not others[0].flagged and others[0].from_code == "310115"


@pytest.mark.parametrize(
    "change",
    [
        {"n": 2},  # two parcels are no pattern
        {"weight": 0.8},  # light
        {"declared": "药品"},  # declared honestly as drugs
        {"east_m": 3_000.0},  # far from the seizure site (and no hot spot)
        {"receiver": "320505"},  # Suzhou is next door, not far
    ],
)
def test_pattern_needs_every_condition(any_session: Session, change: dict[str, object]) -> None:
    _routes_case(any_session, **change)  # type: ignore[arg-type]
    routes = service.routes(session=any_session, case_id="R")
    assert routes and not any(r.flagged for r in routes)


def test_waybill_of_a_seizure_is_flagged_first(any_session: Session) -> None:
    _routes_case(any_session, n=1)
    add_waybill(
        any_session,
        "W-TIED",
        offset(*SEIZURE_SITE, 9_000, 9_000),
        receiver="510104",
        weight=0.4,
        declared="药品",
    )
    add_seizure(any_session, "R-S2", "R", None, None, waybill_no="W-TIED")
    any_session.flush()
    routes = service.routes(session=any_session, case_id="R")
    assert routes[0].to_code == "510100" and routes[0].flagged
    assert routes[0].why == ("waybill W-TIED tied to seizure R-S2",)
    assert [r.flagged for r in routes[1:]] == [False] * (len(routes) - 1)


def test_parcels_from_a_compound_cluster_are_flagged(any_session: Session) -> None:
    add_seizure(any_session, "H-S1", "H", 121.60, 31.30)  # far from the senders
    compound = offset(*SEIZURE_SITE, 0, 0)
    for i in range(3):
        add_waybill(any_session, f"H{i}", offset(*compound, 30.0 * i, 0), weight=5.0, declared="茶叶")
    any_session.flush()
    lon = [compound[0]] * 12 + [121.2 + 0.01 * i for i in range(40)]
    lat = [compound[1]] * 12 + [31.0 + 0.008 * i for i in range(40)]
    hs = find_hotspots(lon, lat, layer="residences", case_id="H")
    assert hs.clusters
    routes = service.routes(session=any_session, case_id="H", hotspot_result=hs)
    assert routes[0].flagged and "residences cluster 1" in routes[0].why[0]


def test_senders_outside_shanghai_and_local_deliveries_are_not_routes(any_session: Session) -> None:
    add_seizure(any_session, "L-S1", "L", *SEIZURE_SITE)
    add_waybill(any_session, "L1", (120.15, 30.27), sender_adcode="330106")  # Hangzhou sender
    add_waybill(any_session, "L2", offset(*SEIZURE_SITE, 0, 0), receiver="310115")  # within Shanghai
    add_waybill(any_session, "L3", None, sender_adcode="310108", receiver="110105")  # old Zhabei code
    any_session.flush()
    routes = service.routes(session=any_session, case_id="L")
    assert [(r.from_code, r.to_code) for r in routes] == [("310106", "110100")]


def test_drug_declarations() -> None:
    assert is_drug_declaration("药品") and is_drug_declaration("中成药") and is_drug_declaration("Medicine")
    assert not is_drug_declaration("日用品") and not is_drug_declaration(None) and not is_drug_declaration("")


def _load_both(session: Session) -> None:
    small_case(session)
    collection_world(session)
    _routes_case(session)
    # Senders at 480 m and 520 m from the site: inside and outside a 500 m radius on any engine.
    add_waybill(session, "EDGE-IN", offset(*SEIZURE_SITE, 480, 0))
    add_waybill(session, "EDGE-OUT", offset(*SEIZURE_SITE, 520, 0))
    session.flush()


@pytest.mark.postgres
def test_sqlite_and_postgis_give_identical_results(session: Session, pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    with sessionmaker(pg_engine, expire_on_commit=False)() as pg:
        for s in (session, pg):
            _load_both(s)
        assert service.has_postgis(pg) and not service.has_postgis(session)
        near_sql = service.near_seizure_sites(session=pg, case_id="R", use_sql=True)
        assert near_sql == service.near_seizure_sites(session=pg, case_id="R", use_sql=False)
        assert near_sql == service.near_seizure_sites(session=session, case_id="R")
        assert "EDGE-IN" in near_sql and "EDGE-OUT" not in near_sql
        for case in ("C1", "C2", None):
            a = service.case_points(session=session, case_id=case)
            b = service.case_points(session=pg, case_id=case)
            assert a == b
            for layer in service.LAYERS:
                ha = service.hotspots(session=session, case_id=case, layer=layer, points=a)
                hb = service.hotspots(session=pg, case_id=case, layer=layer, points=b)
                assert ha.to_dict() == hb.to_dict()
        for case in ("R", "C2", None):
            ra = [r.to_dict() for r in service.routes(session=session, case_id=case)]
            rb = [r.to_dict() for r in service.routes(session=pg, case_id=case)]
            assert ra == rb and ra


def test_the_points_fill_the_batch_of_keys_once(session: Session) -> None:
    """The boxes under the case codes and the boxes' sales ask about the same keys when no
    carton was read: the database's points fill SQLite's batch table once for both."""
    small_case(session)
    session.execute(text("DELETE FROM aggregation"))  # the case code is then a box of its own
    dbapi = session.connection().connection.driver_connection
    assert dbapi is not None
    filled: list[str] = []  # each filling empties the table first
    dbapi.set_trace_callback(
        lambda sql: filled.append(sql) if sql.startswith("DELETE FROM rxtrace_batch") else None
    )
    try:
        points = service.points_of(service.DatabasePoints(session), "C1", layers=("institutions",))
    finally:
        dbapi.set_trace_callback(None)
    assert [p.id for p in points.institutions] == ["I1", "I2"]
    assert len(filled) == 1, filled
