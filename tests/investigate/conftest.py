"""A seized case shared by the graph, timeline, dossier and command-line tests, and a server
(SQLite, and PostgreSQL) on case K1 with one user per role for the server tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from .builders import T0, World
from .serverkit import Server, make_server


@pytest.fixture
def case_world(session: Session) -> World:
    """Case K1: one rented card feeding five boxes through one clinic, a resold box, a box in
    a parcel, a split-pack box, and an unsold one."""
    w = World(session)
    w.drug("8700001", "XK", 7, name="琥珀酸美托洛尔缓释片")
    w.institution("CLINIC", "clinic", name="浦东诊所")
    w.institution("PHARM", "pharmacy", name="徐汇药房")
    hub_boxes = [w.new_code("8700001") for _ in range(5)]
    for i, code in enumerate(hub_boxes):
        w.sale(
            inst="CLINIC",
            card="RENTED",
            code=code,
            med="XK",
            at=T0 + timedelta(days=i),
            dr="DOC1",
            fen=1001 + i,
        )
    resold = w.new_code("8700001")
    w.sale(inst="PHARM", card="FIRST", code=resold, med="XK", at=T0, fen=2000)
    w.sale(
        inst="CLINIC", card="RENTED", code=resold, med="XK", at=T0 + timedelta(days=9), dr="DOC1", fen=2000
    )
    split = w.new_code("8700001")
    w.sale(inst="PHARM", card="SPLIT", code=split, med="XK", at=T0, count=3, split=True, fen=150)
    unsold = w.new_code("8700001")
    w.waybill("SF1", T0 + timedelta(days=20))
    w.seize("Z1", "K1", [*hub_boxes[:3], resold], at=T0 + timedelta(days=30))
    w.seize(
        "Z2",
        "K1",
        [*hub_boxes[3:], split, unsold, "https://id.gs1.org/01/bad"],
        at=T0 + timedelta(days=31),
        waybill="SF1",
    )
    w.commit()
    return w


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The same server test on SQLite and on PostgreSQL."""
    url = (
        f"sqlite:///{tmp_path / 'rxtrace.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    made = make_server(url, tmp_path)
    yield made
    made.app.state.context.engine.dispose()


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    made = make_server(f"sqlite:///{tmp_path / 'rxtrace.db'}", tmp_path)
    yield made
    made.app.state.context.engine.dispose()
