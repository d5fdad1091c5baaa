"""Small worlds for the investigation tests: plain functions that insert model rows."""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from rxtrace.trace.codes import key_parts
from rxtrace.trace.store import models

__all__ = [
    "T0",
    "World",
    "box_code",
]

T0 = datetime(2025, 3, 1, 9, 0, 0)
_counter = itertools.count(1)


def box_code(product: str, serial: int) -> str:
    """A well-formed 20-digit national code: product (7 digits, starts with 8) + serial + check."""
    assert len(product) == 7 and product.startswith("8")
    return f"{product}{serial:09d}{serial % 10000:04d}"


class World:
    """Builds one world in a session; every helper returns what it made."""

    def __init__(self, session: Session, seed: int = 7) -> None:
        self.s = session
        self.rng = random.Random(seed)
        self.serial = itertools.count(1)
        self.setl = itertools.count(1)

    def institution(self, code: str, kind: str = "pharmacy", name: str | None = None) -> str:
        self.s.add(models.Institution(fixmedins_code=code, name=name or f"{kind} {code}", kind=kind))
        return code

    def drug(self, product: str, med: str, units_per_box: int | None = 7, name: str | None = None) -> str:
        self.s.add(
            models.CatalogProduct(
                product_id=product,
                med_list_codg=med,
                name=name or f"drug {med}",
                units_per_box=units_per_box,
                price_fen=3000,
            )
        )
        return med

    def new_code(self, product: str) -> str:
        return box_code(product, next(self.serial))

    def sale(
        self,
        *,
        inst: str,
        card: str,
        code: str,
        med: str,
        at: datetime,
        count: int = 1,
        split: bool = False,
        fen: int = 2500,
        self_paid: bool = False,
        ret: bool = False,
        dr: str | None = None,
        setl_id: str | None = None,
        sn: str | None = "auto",
        rxno: str | None = None,
        price_e4: int | None = None,
    ) -> str:
        setl = setl_id or f"S{next(self.setl):07d}"
        hi, lo = key_parts(code)
        n = next(_counter)
        sign = -1 if ret else 1
        self.s.add(
            models.Dispensing(
                row_digest=hashlib.blake2b(f"{n}".encode(), digest_size=16).digest(),
                file_id=0,
                line_no=n,
                setl_id=setl,
                mdtrt_sn=(f"M{setl}" if sn == "auto" else sn),
                fixmedins_code=inst,
                psn_no=card,
                dr_code=dr,
                rxno=rxno,
                med_list_codg=med,
                drug_trac_codg=code,
                code_family="national",
                key_hi=hi,
                key_lo=lo,
                trdn_flag=1 if split else 0,
                sel_retn_cnt=sign * abs(count),
                sel_retn_time=at,
                sel_retn_type="return" if ret else "sale",
                mdtrt_setl_type=2 if self_paid else 1,
                hifp_pay_fen=0 if self_paid else sign * abs(fen),
                finl_trns_pric_e4=price_e4,
            )
        )
        return setl

    def seize(
        self,
        seizure_id: str,
        case_id: str,
        codes: list[str],
        *,
        at: datetime | None = None,
        box_med: dict[str, str] | None = None,
        waybill: str | None = None,
        address: str | None = "某小区门口 stall",
    ) -> str:
        self.s.add(
            models.Seizure(
                seizure_id=seizure_id,
                case_id=case_id,
                seized_at=at or T0 + timedelta(days=200),
                place_kind="stall",
                address=address,
                lon=121.4,
                lat=31.2,
                waybill_no=waybill,
            )
        )
        for code in codes:
            hi, lo = key_parts(code)
            n = next(_counter)
            self.s.add(
                models.SeizedCode(
                    row_digest=hashlib.blake2b(f"sc{n}".encode(), digest_size=16).digest(),
                    seizure_id=seizure_id,
                    code=code,
                    code_family="national",
                    code_key=code,
                    key_hi=hi,
                    key_lo=lo,
                    method="hand",
                    box_med_list_codg=(box_med or {}).get(code),
                )
            )
        return seizure_id

    def waybill(self, no: str, at: datetime) -> str:
        self.s.add(models.Waybill(waybill_no=no, ship_time=at, receiver_adcode="230100", carrier="顺丰"))
        return no

    def honest_background(
        self,
        *,
        pharmacies: int = 8,
        sales_each: int = 60,
        product: str = "8100001",
        med: str = "XBG",
        cards: int = 200,
        kind: str = "pharmacy",
        prefix: str = "P",
    ) -> list[str]:
        """Ordinary trade: random cards buying one box now and then, spread over a year."""
        insts = [self.institution(f"{prefix}{i:04d}", kind) for i in range(pharmacies)]
        for inst in insts:
            for _ in range(sales_each):
                at = T0 + timedelta(minutes=self.rng.randrange(0, 365 * 24 * 60))
                self.sale(
                    inst=inst,
                    card=f"B{self.rng.randrange(cards):05d}",
                    code=self.new_code(product),
                    med=med,
                    at=at,
                    dr=f"D{inst}{self.rng.randrange(3)}",
                )
        return insts

    def commit(self) -> None:
        self.s.commit()
