"""A synthetic Shanghai world, written as contract-v1 files: the demo and the benchmarks' data.

Fixed seed, so the same world comes out every time. Honest life (clinic visits, pharmacy sales,
returns, split packs, self-paid purchases) plus the diversion patterns rxtrace exists to find:

* rented cards, each dispensed expensive drugs at many institutions far beyond any daily dose;
* a phantom-billing clinic settling the same expensive drugs on many cards with no real visits,
  the fund charged nearly all of each bill;
* a pharmacy re-selling recycled boxes on insurance (the same code settled twice);
* a cloned code printed on another drug's box;
* collectors' stalls in residential compounds, a warehouse and a parcel bound for Zhengzhou,
  seized in one case, with a case code (a carton) among the boxes;
* a courier route of repeated heavy parcels declared as household goods to the same far city.

Nothing here touches a database: it only writes files, so it is also the contract's test of
"a real export must load unchanged".
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rxtrace.trace.coords import wgs84_to_gcj02

__all__ = ["DEMO_CASE", "DISTRICTS", "DemoWorld", "generate_world"]

DEMO_CASE = "CASE-2026-0117"

# Shanghai's 16 districts: administrative division code, name, rough centre (WGS-84).
DISTRICTS: tuple[tuple[str, str, float, float], ...] = (
    ("310101", "黄浦", 121.484, 31.222),
    ("310104", "徐汇", 121.437, 31.179),
    ("310105", "长宁", 121.404, 31.213),
    ("310106", "静安", 121.448, 31.247),
    ("310107", "普陀", 121.396, 31.250),
    ("310109", "虹口", 121.491, 31.270),
    ("310110", "杨浦", 121.526, 31.287),
    ("310112", "闵行", 121.420, 31.090),
    ("310113", "宝山", 121.410, 31.390),
    ("310114", "嘉定", 121.250, 31.360),
    ("310115", "浦东", 121.600, 31.210),
    ("310116", "金山", 121.250, 30.800),
    ("310117", "松江", 121.220, 31.030),
    ("310118", "青浦", 121.060, 31.150),
    ("310120", "奉贤", 121.520, 30.920),
    ("310151", "崇明", 121.570, 31.620),
)

# Destination cities of courier parcels: prefecture-level code and centre.
CITIES: tuple[tuple[str, float, float], ...] = (
    ("410100", 113.625, 34.746),
    ("340100", 117.227, 31.820),
    ("130100", 114.514, 38.042),
    ("370100", 117.000, 36.675),
    ("320100", 118.796, 32.060),
    ("330100", 120.155, 30.274),
    ("420100", 114.305, 30.593),
    ("440100", 113.264, 23.129),
    ("230100", 126.642, 45.756),
    ("510100", 104.066, 30.572),
)

# (name, spec, manufacturer, units per box, price a box in yuan, expensive?)
DRUGS: tuple[tuple[str, str, str, int, str, bool], ...] = (
    ("琥珀酸美托洛尔缓释片(倍他乐克)", "47.5mg*7片", "阿斯利康", 7, "38.50", False),
    ("阿司匹林肠溶片", "100mg*30片", "拜耳", 30, "15.20", False),
    ("苯磺酸氨氯地平片(络活喜)", "5mg*7片", "辉瑞", 7, "33.10", False),
    ("厄贝沙坦片", "150mg*7片", "赛诺菲", 7, "27.50", False),
    ("缬沙坦胶囊", "80mg*7粒", "诺华", 7, "48.00", False),
    ("阿托伐他汀钙片(立普妥)", "20mg*7片", "辉瑞", 7, "59.00", False),
    ("二甲双胍缓释片", "0.5g*30片", "中美施贵宝", 30, "29.80", False),
    ("复方丹参滴丸", "27mg*180丸", "天士力", 180, "33.00", False),
    ("碳酸钙D3片(钙尔奇)", "600mg*60片", "惠氏", 60, "62.00", False),
    ("硫酸氢氯吡格雷片(波立维)", "75mg*7片", "赛诺菲", 7, "118.00", True),
    ("利伐沙班片(拜瑞妥)", "10mg*10片", "拜耳", 10, "168.00", True),
    ("甘精胰岛素注射液(来得时)", "3ml:300U", "赛诺菲", 1, "178.00", True),
    ("门冬胰岛素注射液(诺和锐)", "3ml:300U", "诺和诺德", 1, "66.00", True),
    ("达格列净片(安达唐)", "10mg*14片", "阿斯利康", 14, "132.00", True),
    ("恩替卡韦分散片(博路定)", "0.5mg*7片", "百时美施贵宝", 7, "98.00", True),
    ("瑞舒伐他汀钙片(可定)", "10mg*7片", "阿斯利康", 7, "45.60", False),
    ("依折麦布片(益适纯)", "10mg*10片", "默沙东", 10, "65.00", True),
    ("沙库巴曲缬沙坦钠片(诺欣妥)", "100mg*14片", "诺华", 14, "170.00", True),
)

KIND_NAMES = {"hospital": "医院", "clinic": "诊所", "pharmacy": "药房"}
FUND_SHARE = 0.75  # the fund pays three quarters of a box's price in this world
# A bill no patient collected has no patient's part: the phantom clinic charges the fund nearly all.
PHANTOM_FUND_SHARE = 0.95


@dataclass(frozen=True)
class Drug:
    product_id: str  # 7-digit national product identifier, or a GTIN-14 for imports
    med_list_codg: str
    name: str
    spec: str
    manufacturer: str
    units: int
    price_fen: int
    expensive: bool
    gs1: bool


@dataclass
class DemoWorld:
    """The generated world's files and the facts the demo and tests check against."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    case_id: str = DEMO_CASE
    photo_seizure: str = "SZ-2026-0117-05"
    photo_codes: list[tuple[str, str]] = field(default_factory=list)  # (text, symbology)
    rented_cards: list[str] = field(default_factory=list)
    phantom_clinic: str = ""
    reselling_pharmacy: str = ""
    dispensing_rows: int = 0


def _gtin(body13: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


def _money(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


class _World:
    def __init__(self, seed: int, persons: int) -> None:
        self.rng = random.Random(seed)
        self.serial = 0
        self.setl = 0
        self.drugs = self._drugs()
        self.institutions = self._institutions()
        self.persons = self._persons(persons)
        self.sales: list[dict[str, Any]] = []
        self.clinics = [i for i in self.institutions if i["kind"] == "clinic"]
        self.pharmacies = [i for i in self.institutions if i["kind"] == "pharmacy"]
        self.expensive = [d for d in self.drugs if d.expensive]
        # The fund's share of a sale's price, per institution where it differs from FUND_SHARE.
        self.fund_shares: dict[str, float] = {}

    # ---- reference tables ----
    def _drugs(self) -> list[Drug]:
        drugs = []
        for i, (name, spec, maker, units, price, expensive) in enumerate(DRUGS):
            gs1 = i % 6 == 5  # imports carry GS1 DataMatrix codes
            product = (
                _gtin(f"0{690 + i:03d}{self.rng.randrange(10**8, 10**9)}"[:13])
                if gs1
                else (f"8{self.rng.randrange(10**4, 10**5)}{i % 10}")
            )
            drugs.append(
                Drug(
                    product,
                    f"XA{i:02d}{self.rng.randrange(10**10, 10**11)}",
                    name,
                    spec,
                    maker,
                    units,
                    int(price.replace(".", "")),
                    expensive,
                    gs1,
                )
            )
        return drugs

    def _institutions(self) -> list[dict[str, Any]]:
        out = []
        n = 0
        for adcode, district, lon, lat in DISTRICTS:
            for kind, count in (("hospital", 2), ("clinic", 4), ("pharmacy", 6)):
                for _ in range(count):
                    n += 1
                    prefix = kind[0].upper()
                    out.append(
                        {
                            "fixmedins_code": f"{prefix}{adcode}{n:05d}",
                            "name": f"{district}{KIND_NAMES[kind]}{n}",
                            "kind": kind,
                            "adcode": adcode,
                            "address": f"上海市{district}区某路{self.rng.randrange(1, 999)}号",
                            "lon": lon + self.rng.uniform(-0.03, 0.03),
                            "lat": lat + self.rng.uniform(-0.025, 0.025),
                        }
                    )
        return out

    def _persons(self, count: int) -> list[dict[str, Any]]:
        out = []
        for i in range(count):
            adcode, _, lon, lat = self.rng.choice(DISTRICTS)
            out.append(
                {
                    "psn_no": f"31{i:010d}",
                    "birth_year": self.rng.randrange(1935, 2005),
                    "gender": self.rng.choice("MF"),
                    "adcode": adcode,
                    "lon": lon + self.rng.uniform(-0.02, 0.02),
                    "lat": lat + self.rng.uniform(-0.02, 0.02),
                    "certno": f"31011{self.rng.randrange(10**12, 10**13)}",
                    "name": f"居民{i}",
                }
            )
        return out

    # ---- codes and sales ----
    def new_code(self, drug: Drug) -> str:
        self.serial += 1
        if drug.gs1:
            return f"(01){drug.product_id}(21)S{self.serial:09d}(17)271231(10)B{self.serial % 9000 + 1000}"
        return f"{drug.product_id}{self.serial:09d}{self.rng.randrange(10**4):04d}"

    def sell(
        self,
        code: str,
        drug: Drug,
        person: dict[str, Any],
        inst: dict[str, Any],
        when: datetime,
        *,
        kind: str = "sale",
        units: int | None = None,
        self_paid: bool = False,
        doctor: str | None = None,
        med_list_codg: str | None = None,
        fund_share: float | None = None,
    ) -> None:
        self.setl += 1
        split = units is not None
        price = drug.price_fen if not split else -(-drug.price_fen // drug.units)
        qty = units if units is not None else 1
        if fund_share is None:
            fund_share = self.fund_shares.get(inst["fixmedins_code"], FUND_SHARE)
        pay = 0 if self_paid else round(price * qty * fund_share)
        sign = -1 if kind == "return" else 1
        self.sales.append(
            {
                "setl_id": f"S{self.setl:010d}",
                "mdtrt_sn": f"M{self.setl:010d}",
                "fixmedins_code": inst["fixmedins_code"],
                "psn_no": person["psn_no"],
                "certno": person["certno"],
                "psn_name": person["name"],
                "dr_code": doctor
                or (
                    f"D{inst['fixmedins_code'][1:]}{self.rng.randrange(3):02d}"
                    if inst["kind"] != "pharmacy"
                    else ""
                ),
                "rxno": f"RX{self.setl:010d}" if inst["kind"] != "pharmacy" else "",
                "med_list_codg": med_list_codg or drug.med_list_codg,
                "drug_trac_codg": code,
                "trdn_flag": 1 if split else 0,
                "sel_retn_cnt": sign * qty,
                "sel_retn_time": when.strftime("%Y-%m-%d %H:%M:%S"),
                "sel_retn_type": kind,
                "mdtrt_setl_type": 2 if self_paid else 1,
                "finl_trns_pric": _money(price),
                "hifp_pay": _money(sign * pay),
                "manu_lotnum": f"L{self.rng.randrange(10**5, 10**6)}",
                "expy_end": "2027-12-31",
            }
        )

    def when(self, start: datetime = datetime(2025, 1, 1), days: int = 364) -> datetime:
        return start + timedelta(
            days=self.rng.randrange(days),
            hours=self.rng.randrange(8, 20),
            minutes=self.rng.randrange(60),
            seconds=self.rng.randrange(60),
        )


def generate_world(folder: Path, *, seed: int = 2026, persons: int = 3000) -> DemoWorld:
    """Write the demo world's contract files into ``folder`` and say what is in it.

    One documented pipeline: each scenario below is planted in turn, drawing from one seeded
    random source, so the same seed writes the same files byte for byte.
    """
    folder.mkdir(parents=True, exist_ok=True)
    w = _World(seed, persons)
    result = DemoWorld(folder)
    _honest_life(w)
    diverted, rented = _rented_cards(w, result)
    carton = _phantom_clinic(w, result, diverted, rented)
    resold = _reselling_pharmacy(w, result, diverted)
    clone_code, clone_drug = _cloned_code(w, diverted)
    seizures = _seizures(result)
    hand_seized, pool = _seized_boxes(w, diverted, resold, clone_code, clone_drug)
    aggregation, carton_code = _carton(w, carton)
    hand_seized.append(
        {"seizure_id": "SZ-2026-0117-04", "code": carton_code, "scanned_at": "", "box_med_list_codg": ""}
    )
    _photographed_pile(result, pool)
    waybills = _waybills(w)
    result.files = _write_files(folder, w, aggregation, waybills, seizures, hand_seized)
    result.dispensing_rows = len(w.sales)
    return result


def _honest_life(w: _World) -> None:
    """Each person a handful of visits a year, one to three boxes each; a few split packs,
    returns and self-paid boxes among them."""
    rng = w.rng
    for person in w.persons:
        own = [i for i in w.institutions if i["adcode"] == person["adcode"]]
        for _ in range(rng.randrange(2, 9)):
            inst = rng.choice(own)
            when = w.when()
            for drug in rng.sample(w.drugs, rng.randrange(1, 4)):
                code = w.new_code(drug)
                roll = rng.random()
                if roll < 0.02 and inst["kind"] == "pharmacy":
                    # Split pack: the box opened, its units sold over several visits.
                    left = drug.units
                    t = when
                    while left > 0:
                        take = min(left, rng.randrange(1, max(2, drug.units // 2 + 1)))
                        w.sell(code, drug, rng.choice(w.persons), inst, t, units=take)
                        left -= take
                        t += timedelta(days=rng.randrange(1, 5))
                    continue
                w.sell(code, drug, person, inst, when, self_paid=roll > 0.97)
                if 0.02 <= roll < 0.03:
                    w.sell(code, drug, person, inst, when + timedelta(hours=2), kind="return")


def _rented_cards(w: _World, result: DemoWorld) -> tuple[list[tuple[str, Drug]], list[dict[str, Any]]]:
    """Rented cards: expensive drugs at many institutions, several times a week. Returns the
    diverted boxes (code, drug) and the rented cards' holders."""
    rng = w.rng
    rented = rng.sample(w.persons, 24)
    result.rented_cards = [p["psn_no"] for p in rented]
    diverted: list[tuple[str, Drug]] = []
    for person in rented:
        for _ in range(rng.randrange(40, 70)):
            drug = rng.choice(w.expensive)
            code = w.new_code(drug)
            w.sell(
                code, drug, person, rng.choice(w.clinics + w.pharmacies), w.when(datetime(2025, 6, 1), 200)
            )
            diverted.append((code, drug))
    return diverted, rented


def _phantom_clinic(
    w: _World, result: DemoWorld, diverted: list[tuple[str, Drug]], rented: list[dict[str, Any]]
) -> list[str]:
    """A phantom-billing clinic: many cards, the same expensive drugs, no real visits; the
    cards live where collectors recruit. Returns the codes of one carton of its boxes."""
    rng = w.rng
    phantom = w.clinics[5]
    result.phantom_clinic = phantom["fixmedins_code"]
    ghost_cards = rng.sample(w.persons, 60)
    # Cards are rented where collectors recruit: two residential compounds near the stalls.
    compounds = (("310107", 121.4035, 31.2562), ("310106", 121.4515, 31.2641))
    for i, person in enumerate(rented + ghost_cards[:30]):
        adcode, lon, lat = compounds[i % 2]
        person.update(
            adcode=adcode, lon=lon + rng.uniform(-0.0015, 0.0015), lat=lat + rng.uniform(-0.0012, 0.0012)
        )
    doctor = f"D{phantom['fixmedins_code'][1:]}09"
    expensive = w.expensive
    carton: list[str] = []
    for day in range(0, 150, 3):
        for person in rng.sample(ghost_cards, 8):
            drug = expensive[(day // 3) % 3]
            code = w.new_code(drug)
            w.sell(
                code,
                drug,
                person,
                phantom,
                datetime(2025, 7, 1, 8, 5) + timedelta(days=day, minutes=rng.randrange(30)),
                doctor=doctor,
                fund_share=PHANTOM_FUND_SHARE,
            )
            diverted.append((code, drug))
            if drug is expensive[1] and len(carton) < 10:
                carton.append(code)
    return carton


def _reselling_pharmacy(
    w: _World, result: DemoWorld, diverted: list[tuple[str, Drug]]
) -> list[tuple[str, Drug]]:
    """A pharmacy re-selling recycled boxes on insurance: the code settled a second time."""
    rng = w.rng
    reseller = w.pharmacies[17]
    result.reselling_pharmacy = reseller["fixmedins_code"]
    rng.shuffle(diverted)
    resold = diverted[:30]
    for code, drug in resold:
        w.sell(code, drug, rng.choice(w.persons), reseller, w.when(datetime(2025, 12, 1), 40))
    return resold


def _cloned_code(w: _World, diverted: list[tuple[str, Drug]]) -> tuple[str, Drug]:
    """A cloned code: one box's code printed on boxes of another drug. Returns the code and
    the drug it was printed on."""
    rng = w.rng
    clone_code, clone_drug = diverted[40]
    other = next(d for d in w.expensive if d is not clone_drug)
    w.sell(
        clone_code,
        other,
        rng.choice(w.persons),
        rng.choice(w.pharmacies),
        w.when(datetime(2025, 11, 1), 30),
        med_list_codg=other.med_list_codg,
    )
    return clone_code, other


_SEIZURE_SITES = (
    ("SZ-2026-0117-01", "stall", "普陀区某小区门口", 121.402, 31.255, None),
    ("SZ-2026-0117-02", "recycling", "普陀区某回收点", 121.409, 31.247, None),
    ("SZ-2026-0117-03", "residence", "静安区某小区", 121.452, 31.263, None),
    ("SZ-2026-0117-04", "parcel", "普陀区快递网点", 121.396, 31.240, "SF2026011700001"),
)


def _seizures(result: DemoWorld) -> list[dict[str, Any]]:
    """Seizures of one case: stalls at compounds, a warehouse, a parcel, a photographed pile."""
    sites = (*_SEIZURE_SITES, (result.photo_seizure, "warehouse", "普陀区某仓库", 121.388, 31.262, None))
    seizures = []
    for i, (sid, kind, addr, lon, lat, waybill) in enumerate(sites):
        glon, glat = wgs84_to_gcj02(lon, lat)  # officers' phones record GCJ-02
        seizures.append(
            {
                "seizure_id": sid,
                "case_id": DEMO_CASE,
                "seized_at": f"2026-01-{15 + i:02d} 10:30:00",
                "place_kind": kind,
                "address": addr,
                "lon": round(glon, 6),
                "lat": round(glat, 6),
                "crs": "gcj02",
                "waybill_no": waybill or "",
            }
        )
    return seizures


def _seized_boxes(
    w: _World,
    diverted: list[tuple[str, Drug]],
    resold: list[tuple[str, Drug]],
    clone_code: str,
    clone_drug: Drug,
) -> tuple[list[dict[str, Any]], list[tuple[str, Drug]]]:
    """The hand-scanned boxes of the four seizures: diverted boxes, the resold ones, the
    clone, a box bought self-paid, a re-read and two damaged labels. Returns them and the
    diverted boxes not yet seized (the photographed pile takes from those)."""
    seized: list[dict[str, Any]] = []
    pool = diverted[50:]
    cursor = 0
    for (sid, *_rest), n in zip(_SEIZURE_SITES, (70, 45, 40, 35), strict=True):
        for code, drug in pool[cursor : cursor + n]:
            seized.append(
                {
                    "seizure_id": sid,
                    "code": code,
                    "scanned_at": "2026-01-17 15:00:00",
                    "box_med_list_codg": drug.med_list_codg,
                }
            )
        cursor += n

    def box(seizure_id: str, code: str, med_list_codg: str = "") -> None:
        seized.append(
            {"seizure_id": seizure_id, "code": code, "scanned_at": "", "box_med_list_codg": med_list_codg}
        )

    for code, drug in resold[:12]:
        box("SZ-2026-0117-02", code, drug.med_list_codg)
    box("SZ-2026-0117-03", clone_code, clone_drug.med_list_codg)
    self_paid = next(s for s in w.sales if s["mdtrt_setl_type"] == 2)
    box("SZ-2026-0117-03", self_paid["drug_trac_codg"])
    seized.append(dict(seized[0], seizure_id="SZ-2026-0117-04"))  # read twice
    box("SZ-2026-0117-01", seized[1]["code"][:17])  # a torn label
    box("SZ-2026-0117-01", "8A" + seized[2]["code"][2:])  # a misread digit
    return seized, pool[cursor:]


def _carton(w: _World, carton: list[str]) -> tuple[list[dict[str, str]], str]:
    """A carton of the phantom clinic's boxes, seized sealed: its code and what it holds."""
    carton_code = f"{carton[0][:7]}9{w.rng.randrange(10**11, 10**12)}"
    return [{"parent_code": carton_code, "child_code": c, "level": "case"} for c in carton], carton_code


def _photographed_pile(result: DemoWorld, pool: list[tuple[str, Drug]]) -> None:
    """The photographed pile: its codes come from the camera, not from a hand scanner."""
    for code, drug in pool[:24]:
        if drug.gs1:
            gtin = drug.product_id
            serial = code.split("(21)")[1].split("(")[0]
            result.photo_codes.append((f"01{gtin}21{serial}\x1d17271231", "datamatrix"))
        else:
            result.photo_codes.append((code, "code128"))


def _waybills(w: _World) -> list[dict[str, Any]]:
    """Courier waybills: ordinary parcels, a heavy repeated route to Zhengzhou, and the
    seized parcel's own."""
    rng = w.rng
    waybills = []
    for i in range(240):
        adcode, _, lon, lat = rng.choice(DISTRICTS)
        city, clon, clat = rng.choice(CITIES)
        waybills.append(
            _waybill(
                f"YT{i:011d}",
                w.when(datetime(2025, 9, 1), 140),
                "圆通",
                adcode,
                lon,
                lat,
                city,
                clon,
                clat,
                rng.uniform(0.2, 3.0),
                rng.choice(["衣物", "书籍", "日用品", "食品"]),
                rng,
            )
        )
    zhengzhou = ("410100", 113.625, 34.746)
    for i in range(26):
        waybills.append(
            _waybill(
                f"SF20251{i:09d}",
                w.when(datetime(2025, 10, 1), 105),
                "顺丰",
                "310107",
                121.400,
                31.252,
                *zhengzhou,
                rng.uniform(8, 15),
                "日用品",
                rng,
            )
        )
    waybills.append(
        _waybill(
            "SF2026011700001",
            datetime(2026, 1, 18, 9, 0),
            "顺丰",
            "310107",
            121.396,
            31.240,
            *zhengzhou,
            12.5,
            "日用品",
            rng,
        )
    )
    return waybills


def _write_files(
    folder: Path,
    w: _World,
    aggregation: list[dict[str, str]],
    waybills: list[dict[str, Any]],
    seizures: list[dict[str, Any]],
    seized: list[dict[str, Any]],
) -> list[Path]:
    """The contract files, dispensing in the three encodings the contract allows."""
    rng = w.rng
    rng.shuffle(w.sales)
    third = len(w.sales) // 3
    return [
        _write_csv(folder / "institutions.csv", _with_crs(w.institutions, rng)),
        _write_csv(folder / "insured.csv", _insured(w)),
        _write_csv(folder / "catalog.csv", _catalog(w)),
        _write_csv(folder / "aggregation.csv", aggregation),
        _write_csv(folder / "dispensing_2025_a.csv", w.sales[:third]),
        _write_csv(folder / "dispensing_2025_b_gb18030.csv", w.sales[third : 2 * third], encoding="gb18030"),
        _write_jsonl(folder / "dispensing_2025_c.jsonl", w.sales[2 * third :]),
        _write_csv(folder / "waybills.csv", waybills),
        _write_csv(folder / "seizures.csv", seizures),
        _write_csv(folder / "seized_codes.csv", seized),
    ]


def _insured(w: _World) -> list[dict[str, Any]]:
    """The insured persons as the contract's table has them (names and numbers stay out)."""
    return [{k: p[k] for k in ("psn_no", "birth_year", "gender", "adcode", "lon", "lat")} for p in w.persons]


def _catalog(w: _World) -> list[dict[str, Any]]:
    return [
        {
            "product_id": d.product_id,
            "med_list_codg": d.med_list_codg,
            "name": d.name,
            "spec": d.spec,
            "manufacturer": d.manufacturer,
            "units_per_box": d.units,
            "price": _money(d.price_fen),
        }
        for d in w.drugs
    ]


def _waybill(
    no: str,
    when: datetime,
    carrier: str,
    adcode: str,
    lon: float,
    lat: float,
    city: str,
    clon: float,
    clat: float,
    kg: float,
    content: str,
    rng: random.Random,
) -> dict[str, Any]:
    return {
        "waybill_no": no,
        "ship_time": when.strftime("%Y-%m-%d %H:%M:%S"),
        "carrier": carrier,
        "sender_phone": f"1{rng.randrange(30, 90)}{rng.randrange(10**8):08d}",
        "sender_adcode": adcode,
        "sender_lon": round(lon + rng.uniform(-0.01, 0.01), 6),
        "sender_lat": round(lat + rng.uniform(-0.01, 0.01), 6),
        "receiver_adcode": city,
        "receiver_lon": clon,
        "receiver_lat": clat,
        "crs": "wgs84",
        "weight_kg": round(kg, 1),
        "pieces": 1,
        "declared_content": content,
    }


def _with_crs(rows: Sequence[dict[str, Any]], rng: random.Random) -> Iterator[dict[str, Any]]:
    for row in rows:
        out = dict(row)
        if rng.random() < 0.3:  # part of the list came from a map service, in GCJ-02
            out["lon"], out["lat"] = wgs84_to_gcj02(row["lon"], row["lat"])
            out["crs"] = "gcj02"
        else:
            out["crs"] = "wgs84"
        out["lon"], out["lat"] = round(out["lon"], 6), round(out["lat"], 6)
        yield out


def _write_csv(
    path: Path, rows: Iterator[dict[str, Any]] | Sequence[dict[str, Any]], *, encoding: str = "utf-8"
) -> Path:
    rows = list(rows)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
