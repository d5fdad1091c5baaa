"""Builders of small worlds for the geo tests: plain functions that insert model rows."""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime, timedelta

import numpy as np
import pyproj
from sqlalchemy.orm import Session

from rxtrace.trace.codes import key_parts
from rxtrace.trace.store import models

_BACK = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)
_FWD = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
_serial = itertools.count(1)
T0 = datetime(2025, 10, 1, 9, 0, 0)

SEIZURE_SITE = (121.4300, 31.2200)  # a stall in Xuhui/Changning
HARBIN_DISTRICT = "230102"


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point ``east_m``/``north_m`` metres from (lon, lat), via UTM 51N."""
    x, y = _FWD.transform(lon, lat)
    out = _BACK.transform(x + east_m, y + north_m)
    return float(out[0]), float(out[1])


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()


def code(n: int, product: str = "8339563") -> str:
    return f"{product}{n:09d}0000"[:20]


def add_sale(
    session: Session,
    box: str,
    psn: str,
    inst: str,
    fen: int,
    *,
    setl_type: int = 1,
    kind: str = "sale",
    when: datetime = T0,
) -> None:
    hi, lo = key_parts(box)
    n = next(_serial)
    session.add(
        models.Dispensing(
            row_digest=_digest("d", n),
            file_id=1,
            line_no=n,
            setl_id=f"S{n}",
            fixmedins_code=inst,
            psn_no=psn,
            med_list_codg="X1",
            drug_trac_codg=box,
            code_family="nat",
            key_hi=hi,
            key_lo=lo,
            trdn_flag=0,
            sel_retn_cnt=-1 if kind == "return" else 1,
            sel_retn_time=when,
            sel_retn_type=kind,
            mdtrt_setl_type=setl_type,
            hifp_pay_fen=fen,
        )
    )


def add_seized(session: Session, seizure_id: str, box: str) -> None:
    hi, lo = key_parts(box)
    n = next(_serial)
    session.add(
        models.SeizedCode(
            row_digest=_digest("c", n),
            seizure_id=seizure_id,
            code=box,
            code_family="nat",
            code_key=box,
            key_hi=hi,
            key_lo=lo,
            method="hand",
        )
    )


def add_seizure(
    session: Session,
    seizure_id: str,
    case_id: str,
    lon: float | None,
    lat: float | None,
    *,
    when: datetime = T0,
    waybill_no: str | None = None,
) -> None:
    session.add(
        models.Seizure(
            seizure_id=seizure_id,
            case_id=case_id,
            seized_at=when,
            place_kind="stall",
            address=f"site {seizure_id}",
            lon=lon,
            lat=lat,
            waybill_no=waybill_no,
        )
    )


def add_person(session: Session, psn: str, lon: float | None, lat: float | None) -> None:
    session.add(models.InsuredPerson(psn_no=psn, adcode="310104", lon=lon, lat=lat))


def add_institution(session: Session, code_: str, lon: float, lat: float) -> None:
    session.add(
        models.Institution(
            fixmedins_code=code_, name=f"药房 {code_}", kind="pharmacy", adcode="310104", lon=lon, lat=lat
        )
    )


def add_waybill(
    session: Session,
    no: str,
    sender: tuple[float, float] | None,
    *,
    receiver: str = HARBIN_DISTRICT,
    weight: float | None = 3.0,
    declared: str | None = "日用品",
    sender_adcode: str | None = "310104",
    when: datetime = T0,
) -> None:
    session.add(
        models.Waybill(
            waybill_no=no,
            ship_time=when,
            carrier="顺丰",
            sender_adcode=sender_adcode,
            sender_lon=None if sender is None else sender[0],
            sender_lat=None if sender is None else sender[1],
            receiver_adcode=receiver,
            weight_kg=weight,
            pieces=1,
            declared_content=declared,
        )
    )


def small_case(session: Session) -> None:
    """Case C1: a case code standing for two boxes, a returned sale, a self-paid sale."""
    parent, a, b, d = code(900), code(1), code(2), code(3)
    (phi, plo), (ahi, alo), (bhi, blo) = key_parts(parent), key_parts(a), key_parts(b)
    session.add_all(
        [
            models.Aggregation(
                parent_hi=phi,
                parent_lo=plo,
                child_hi=ahi,
                child_lo=alo,
                parent_key=parent,
                child_key=a,
                level="case",
            ),
            models.Aggregation(
                parent_hi=phi,
                parent_lo=plo,
                child_hi=bhi,
                child_lo=blo,
                parent_key=parent,
                child_key=b,
                level="case",
            ),
        ]
    )
    add_seizure(session, "S1", "C1", *SEIZURE_SITE)
    add_seizure(
        session,
        "S2",
        "C1",
        *offset(*SEIZURE_SITE, 2_000, 0),
        waybill_no="W-TIED",
        when=T0 + timedelta(days=3),
    )
    add_seizure(session, "S9", "OTHER", 121.60, 31.30)
    add_seized(session, "S1", parent)
    add_seized(session, "S1", a)  # the same box read again: one box
    add_seized(session, "S2", d)
    add_seized(session, "S9", code(77))
    add_sale(session, a, "P1", "I1", 1_000)
    add_sale(session, b, "P2", "I1", 900)
    add_sale(session, b, "P2", "I1", -900, kind="return")
    add_sale(session, d, "P3", "I2", 550)
    add_sale(session, d, "P9", "I2", 0, setl_type=2)  # self-paid: not the fund's, not a lead
    add_sale(session, code(77), "P7", "I2", 700)
    add_person(session, "P1", *offset(*SEIZURE_SITE, 300, 300))
    add_person(session, "P2", *offset(*SEIZURE_SITE, -400, 100))
    add_person(session, "P3", None, None)
    add_person(session, "P9", 121.5, 31.25)
    add_person(session, "P7", 121.6, 31.3)
    add_institution(session, "I1", *offset(*SEIZURE_SITE, 1_000, 1_000))
    add_institution(session, "I2", *offset(*SEIZURE_SITE, -1_000, 2_000))
    session.flush()


def collection_world(session: Session, *, seed: int = 3) -> None:
    """Case C2: 70 cards, 30 of them in a few compounds round one stall; every box seized."""
    rng = np.random.default_rng(seed)
    cx, cy = _FWD.transform(*SEIZURE_SITE)
    points = [(cx + rng.normal(0, 400), cy + rng.normal(0, 400)) for _ in range(30)]
    points += [(cx + rng.uniform(-12_000, 12_000), cy + rng.uniform(-12_000, 12_000)) for _ in range(40)]
    add_seizure(session, "C2-S1", "C2", *SEIZURE_SITE)
    add_seizure(session, "C2-S2", "C2", *offset(*SEIZURE_SITE, 6_000, -3_000), when=T0 + timedelta(days=10))
    add_institution(session, "C2-I1", *offset(*SEIZURE_SITE, 500, 500))
    for i, (x, y) in enumerate(points):
        lon, lat = _BACK.transform(x, y)
        psn = f"C2-P{i:02d}"
        box = code(1_000 + i)
        add_person(session, psn, round(float(lon), 6), round(float(lat), 6))
        add_sale(session, box, psn, "C2-I1", 1_000 + i)
        add_seized(session, "C2-S1" if i % 3 else "C2-S2", box)
    session.flush()
