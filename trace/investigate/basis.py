"""The leads' basis: what the analysis needs from every sale, computed once per state of the data.

Each lead rule needs its own grouping of all sales: settlements per institution in time order,
card × drug windows on two grids, sale rows per card and per doctor, codes on several rows.
Each of those sorts or hashes the whole ``dispensing`` table, and together they cost ten times
the raw duplicate-settlement query. None of them depends on a case: seizures only pick which
entities to look at. So they are kept in ``lead_basis_*`` tables (a few rows per institution,
card, doctor and flagged window) and rebuilt only when the data under them has grown:

* ``rxtrace load`` rebuilds the basis after it stored sales, institutions or catalog rows;
* :func:`ensure_basis` (every :func:`~rxtrace.trace.investigate.leads.find_leads`) checks the basis against
  the data's *token* and the shaping parameters, and rebuilds it when either differs.

The token is the highest sale id, the sale rows the loads counted, and the numbers of
institutions and catalog products. Every table rxtrace writes only ever grows (loads insert
and ignore duplicates; nothing updates or deletes a row), so a grown table changes the token.
The sum of the loads' counts catches a load on PostgreSQL that commits rows with lower ids
after the basis was built from higher ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import MappingProxyType
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.investigate.params import LeadParams
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.store import models
from rxtrace.trace.store.db import one_at_a_time

__all__ = [
    "NEEDS",
    "SHAPING",
    "BasisInfo",
    "basis_info",
    "basis_shape",
    "build_basis",
    "ensure_basis",
    "is_fresh",
    "refresh_basis",
]

# The parameters the basis is built with; the others only weigh and gate what it holds.
SHAPING = (
    "window_days",
    "max_units_per_day",
    "typical_factor",
    "min_institutions",
    "bunch_seconds",
    "burst_seconds",
    "covisit_neighbours",
    "small_visits_min_visits",
    "no_treatment_min_windows",
    "no_treatment_core_share",
)
# 2: institutions' fund and billed sums; 3: co-visits, visits per drug, doctors' fund and bursts;
# 4: drug mixes that do not look like a treatment, each drug's usual and plausible quantity
_VERSION = 4
_META = "lead_basis"
_TOKEN_PARTS = ("highest_sale_id", "sale_rows_loaded", "institutions", "catalog_products")
INS = "d.mdtrt_setl_type = 1"

_CODE = "lead_basis_code"
_INSTITUTION = "lead_basis_institution"
_COVISIT = "lead_basis_covisit"
_WINDOWED = ("lead_basis_window", "lead_basis_visits", "lead_basis_drug")
_CARD = "lead_basis_card"
_DOCTOR = "lead_basis_doctor"
_MIX = "lead_basis_mix"
_ALL = frozenset((_CODE, _INSTITUTION, _COVISIT, *_WINDOWED, _CARD, _DOCTOR, _MIX))

NEEDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # Every kind reads the candidate codes: the seized boxes' rows are read with theirs.
        "code": frozenset({_CODE}),
        "card": _ALL - {_DOCTOR},
        "institution": frozenset({_CODE, _INSTITUTION, _COVISIT, _MIX}),
        "doctor": frozenset({_CODE, _INSTITUTION, _DOCTOR}),
    }
)
"""The basis tables each kind of lead's rules read (a test runs each kind on only these). A
run that builds the basis for itself (Spark, which keeps nothing between jobs) builds only
what the kinds asked read: the code rules' candidate codes are one grouping of every sale,
where the whole basis is about ten."""


@dataclass(frozen=True)
class BasisInfo:
    """What the stored basis was built from, when, and in how long."""

    token: str
    params: Mapping[str, Any]
    built_at: str
    seconds: float
    version: int = _VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "params": dict(self.params),
            "built_at": self.built_at,
            "seconds": self.seconds,
            "version": self.version,
        }

    @property
    def data(self) -> dict[str, int]:
        """The token in words: the state of the data the basis describes.

        >>> BasisInfo("120:100:3:2", {}, "2026-01-01T00:00:00", 0.1).data["institutions"]
        3
        """
        return dict(zip(_TOKEN_PARTS, (int(part) for part in self.token.split(":")), strict=False))


def _shaping(params: LeadParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in SHAPING}


def basis_shape(params: LeadParams) -> dict[str, Any]:
    """What a basis built for ``params`` by this version of the build is bound to, besides the
    data: a kept basis (a database's, or a folder of Parquet) is used only when it matches."""
    return {"params": _shaping(params), "version": _VERSION}


def _token(session: Session) -> str:
    row = session.execute(
        text(
            "SELECT (SELECT MAX(id) FROM dispensing), "
            "(SELECT SUM(rows_taken) FROM loaded_file WHERE table_name = 'dispensing'), "
            "(SELECT COUNT(*) FROM institution), (SELECT COUNT(*) FROM catalog_product)"
        )
    ).one()
    return ":".join(str(value or 0) for value in row)


def basis_info(*, session: Session) -> BasisInfo | None:
    """The stored basis' description, or None when there is none (or of an older build)."""
    stored = session.get(models.Meta, _META)
    if stored is None:
        return None
    try:
        document = json.loads(stored.value)
        info = BasisInfo(
            str(document["token"]),
            dict(document["params"]),
            str(document["built_at"]),
            float(document["seconds"]),
            int(document["version"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return info if info.version == _VERSION else None


def _fresh(session: Session, params: LeadParams) -> tuple[BasisInfo | None, str]:
    token = _token(session)
    info = basis_info(session=session)
    if info is not None and info.token == token and info.params == _shaping(params):
        return info, token
    return None, token


def is_fresh(*, session: Session, params: LeadParams) -> bool:
    """Whether the stored basis describes the data as it is, for ``params``."""
    return _fresh(session, params)[0] is not None


def ensure_basis(
    *,
    session: Session,
    params: LeadParams,
    parallel: bool = False,
    on_build: Callable[[], None] | None = None,
) -> BasisInfo:
    """The basis for ``params``: the stored one while it still describes the data, otherwise
    built again now (in the caller's transaction; ``parallel`` as for :func:`refresh_basis`).
    The one place that decides whether the basis is current: every command that needs it calls
    this, and ``on_build`` is called just before a build, for the caller to say so.

    One process builds at a time (:func:`~rxtrace.trace.store.db.one_at_a_time`): two loads
    finishing together would otherwise both replace the basis' rows, and the second fail on
    the first's (a duplicate key on PostgreSQL, a locked database on SQLite). The waiting one
    looks again once it has its turn, and builds only if the basis still does not describe
    the data. On SQLite, where the turn ends with the block, a build with nothing of the
    caller's pending commits itself before the turn passes on.
    """
    info, token = _fresh(session, params)
    if info is not None:
        return info
    with one_at_a_time(session.connection(), "leads-basis"):
        info, token = _fresh(session, params)
        if info is not None:
            return info
        if on_build is not None:
            on_build()
        return refresh_basis(session=session, params=params, token=token, parallel=parallel)


def refresh_basis(
    *, session: Session, params: LeadParams | None = None, token: str | None = None, parallel: bool = False
) -> BasisInfo:
    """Build the basis from every sale, whatever is stored (in the caller's transaction;
    committed here on SQLite when nothing of the caller's was pending, see :func:`ensure_basis`).

    ``parallel``: the settlements and the card windows are summed up on two connections of
    their own while the caller's finds the candidate codes and counts the rows per card and
    per doctor, so two cores share the work. Those connections see committed rows only: pass
    it only with nothing pending (``rxtrace load`` commits first). An in-memory SQLite
    database, or a SQLite connection with writes pending, is built on the caller's
    connection alone whatever is asked.
    """
    params = params or LeadParams()
    # Read before the build: rows stored meanwhile make the basis look stale, never fresh.
    token = token or _token(session)
    started = time.perf_counter()
    nothing_pending = _sqlite_idle(session)
    sides = (_settlement_side, _window_side)
    if parallel and _may_share(session):
        engine = session.get_bind().engine
        with ThreadPoolExecutor(max_workers=len(sides), thread_name_prefix="rxtrace-basis") as pool:
            futures = [pool.submit(_on_own_connection, engine, side, params) for side in sides]
            own = _on(Sql(session), _count_side, params)
            parts = [*(future.result() for future in futures), own]
    else:
        parts = [_on(Sql(session), side, params) for side in (*sides, _count_side)]
    if nothing_pending:
        # The build read on a snapshot SQLite cannot turn into a write once another process
        # (a load beside this one) has committed since: it would fail at once, "database is
        # locked", without waiting. Nothing of the caller's is pending, so the build's own
        # transaction (temporary tables only) ends here and the write below starts afresh,
        # waiting its turn. The connection stays the session's, and its temporary tables.
        session.connection().connection.dbapi_connection.commit()  # type: ignore[union-attr]
    _write(Sql(session), parts)
    info = BasisInfo(
        token,
        _shaping(params),
        datetime.now().replace(microsecond=0).isoformat(),
        round(time.perf_counter() - started, 3),
    )
    session.merge(models.Meta(name=_META, value=json.dumps(info.to_dict(), sort_keys=True)))
    session.flush()
    if nothing_pending:
        # Only the build's own rows are in this transaction: committed here, within the
        # builders' turn, so the next builder finds them instead of building again.
        session.commit()
    return info


_Part = dict[str, list[dict[str, Any]] | str]
"""Rows of basis tables by table name, or the temporary table that holds them."""


def build_basis(sql: Sql, params: LeadParams, *, kinds: Iterable[str] | None = None) -> None:
    """Build the basis on ``sql``'s connection alone and put it in place, with no token and no
    turn: for an engine that keeps nothing between runs (Spark builds it in every job). With
    ``kinds``, only the tables those kinds' rules read (:data:`NEEDS`); the others are not
    made, so a rule reading one fails rather than reads nothing."""
    tables = _ALL if kinds is None else frozenset().union(*(NEEDS[kind] for kind in kinds))
    sides = [partial(side, tables=tables) for side in (_settlement_side, _window_side, _count_side)]
    _write(sql, [_on(sql, side, params) for side in sides])


def _write(writer: Sql, parts: list[_Part]) -> None:
    for part in parts:
        for name, rows in part.items():
            if isinstance(rows, str):
                writer.copy(name, rows)
            else:
                writer.replace(name, rows)


def _may_share(session: Session) -> bool:
    engine = session.get_bind().engine
    if engine.dialect.name != "sqlite":
        return True
    if engine.url.database in (None, "", ":memory:"):
        return False  # every connection would open a database of its own
    return _sqlite_idle(session)


def _sqlite_idle(session: Session) -> bool:
    """A SQLite database in a file whose connection holds no transaction, so nothing of the
    caller's is pending (SQLite opens one only at the first write)."""
    engine = session.get_bind().engine
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return False
    dbapi = session.connection().connection.dbapi_connection
    return not getattr(dbapi, "in_transaction", True)


def _on(sql: Sql, side: Callable[[Sql, LeadParams], _Part], params: LeadParams) -> _Part:
    sql.tune(spill=True)
    try:
        return side(sql, params)
    finally:
        sql.drop_all()
        sql.tune()  # the page cache back to its size; temporary tables go back on return


def _on_own_connection(engine: Any, side: Callable[[Sql, LeadParams], _Part], params: LeadParams) -> _Part:
    with Session(engine) as session:
        try:
            return _on(Sql(session), side, params)
        finally:
            session.rollback()


# Each side is one connection's share of the build. The settlements are the longest; the
# candidate codes go with the counts, which alone are the shortest.


def _settlement_side(sql: Sql, params: LeadParams, tables: frozenset[str] = _ALL) -> _Part:
    part: _Part = {}
    if _INSTITUTION in tables:
        part[_INSTITUTION] = _build_institutions(sql, params)  # fills the settlements
    elif _COVISIT in tables:
        fill_settlements(sql)
    if _COVISIT in tables:
        part[_COVISIT] = _build_covisits(sql, params)
    return part


def _window_side(sql: Sql, params: LeadParams, tables: frozenset[str] = _ALL) -> _Part:
    if tables.isdisjoint(_WINDOWED):
        return {}
    # The three come from the same windows: built together.
    fill_units(sql)
    windows = _build_windows(sql, params)
    drugs = [
        {"med_list_codg": med, "typical": typical, "plausible": plausible}
        for med, typical, plausible in sql.rows("SELECT med, typical, plausible FROM rxtrace_lead_plausible")
    ]
    return {
        "lead_basis_window": windows,
        "lead_basis_visits": _build_visits(sql, params),
        "lead_basis_drug": drugs,
    }


def _count_side(sql: Sql, params: LeadParams, tables: frozenset[str] = _ALL) -> _Part:
    """The candidate codes, and sale rows per card and per doctor, these straight into the
    basis (no rows through Python: cards are most of what the basis holds)."""
    fill_units(sql)
    part: _Part = {}
    if _CODE in tables:
        part[_CODE] = _build_codes(sql)
    # Summed up into temporary tables, copied into the basis when it is written: on SQLite a
    # write here would hold the database's one write lock through both GROUP BYs over every
    # sale, and a load beside this build would wait on it and time out.
    if _CARD in tables:
        sql.temp(
            "rxtrace_basis_card",
            "psn_no TEXT, sale_rows BIGINT",
            f"SELECT d.psn_no, COUNT(*) FROM dispensing d WHERE {INS} AND d.sel_retn_cnt > 0 "
            f"GROUP BY d.psn_no",
        )
        part[_CARD] = "rxtrace_basis_card"
    if _DOCTOR in tables:
        _build_doctors(sql, params)
        part[_DOCTOR] = "rxtrace_basis_doctor"
    if _MIX in tables:
        _build_mix(sql, params)
        part[_MIX] = "rxtrace_basis_mix"
    sql.keep(*(temporary for temporary in part.values() if isinstance(temporary, str)))
    return part


# ---------------------------------------------------------------------------------------------
# What the rules share with the build


def fill_units(sql: Sql) -> None:
    """``rxtrace_lead_upb``: units per box of each drug (the largest box the catalog lists)."""
    if "rxtrace_lead_upb" in sql.temps:
        return
    sql.temp(
        "rxtrace_lead_upb",
        "med TEXT PRIMARY KEY, upb BIGINT",
        "SELECT med_list_codg, MAX(units_per_box) FROM catalog_product "
        "WHERE med_list_codg IS NOT NULL AND units_per_box > 0 GROUP BY med_list_codg",
    )


def catalog_products(sql: Sql) -> dict[int, str]:
    """National product number → the catalog's drug, for ids written as a plain number (the
    only ones a code's first seven digits can name)."""
    cached: dict[int, str] | None = sql.cache.get("products")
    if cached is not None:
        return cached
    products: dict[int, str] = {}
    for product_id, med in sql.rows(
        "SELECT product_id, med_list_codg FROM catalog_product WHERE med_list_codg IS NOT NULL"
    ):
        try:
            number = int(product_id)
        except ValueError:
            continue
        # A key's high half has ten digits, so its product is positive and below 10^7.
        if str(number) == product_id and 0 < number < 10_000_000:
            products[number] = med
    sql.cache["products"] = products
    return products


# What each settlement keeps of the one before it at the same institution, to tell
# identical bills minutes apart.
_PREV = ("t", "psn", "ndrug", "dmin", "dmax", "boxes", "setl_id")
SAME_BILL = (
    "s.ndrug = s.prev_ndrug AND s.dmin = s.prev_dmin AND s.dmax = s.prev_dmax AND s.boxes = s.prev_boxes"
)


def settlements(sql: Sql) -> str:
    """``rxtrace_lead_setl`` as ``s``, with the previous settlement's columns as ``prev_*``."""
    if sql.pg:
        return "rxtrace_lead_setl s"
    prev = ", ".join(f"p.{c} AS prev_{c}" for c in _PREV)
    return (
        f"(SELECT s.*, {prev} FROM rxtrace_lead_setl s LEFT JOIN rxtrace_lead_setl p "
        f"ON p.seq = s.seq - 1 AND p.inst = s.inst) s"
    )


def fill_settlements(sql: Sql, *, only: str | None = None) -> None:
    """``rxtrace_lead_setl``: one row per settlement in (institution, time, settlement) order,
    with what the previous bill at the same institution was.

    ``only`` names a table of institutions (column ``inst``) to limit it to, read through the
    institution index: the evidence of a few institutions that fired. Without it every
    settlement is summed up, for the basis.

    PostgreSQL takes the previous bill from a window over the aggregate (one sort). SQLite's
    window functions cost more than a sort and a join: its rows are numbered by the order
    they are inserted in (``seq``, the rowid) and the previous bill is the row ``seq - 1``.
    """
    t = f"MIN({sql.epoch('d.sel_retn_time')})"
    values = {
        "t": t,
        "psn": "MIN(d.psn_no)",
        "ndrug": "COUNT(DISTINCT d.med_list_codg)",
        "dmin": "MIN(d.med_list_codg)",
        "dmax": "MAX(d.med_list_codg)",
        "boxes": "SUM(d.sel_retn_cnt)",
        "setl_id": "d.setl_id",
    }
    columns = (
        "inst TEXT, setl_id TEXT, psn TEXT, sn TEXT, t BIGINT, ndrug BIGINT, dmin TEXT, "
        "dmax TEXT, boxes BIGINT, nrows BIGINT, fund BIGINT, billed_e4 BIGINT"
    )
    # What the fund paid and what was billed (price × quantity), on the rows whose price is
    # known: the fund-share rule compares the two.
    select = (
        f"d.fixmedins_code, d.setl_id, MIN(d.psn_no), MIN(d.mdtrt_sn), {t}, "
        f"{values['ndrug']}, {values['dmin']}, {values['dmax']}, {values['boxes']}, "
        f"COUNT(*), "
        f"SUM(CASE WHEN d.finl_trns_pric_e4 IS NULL THEN 0 ELSE d.hifp_pay_fen END), "
        f"SUM(COALESCE(d.finl_trns_pric_e4, 0) * d.sel_retn_cnt)"
    )
    limit = f"AND d.fixmedins_code IN (SELECT inst FROM {only}) " if only else ""
    grouped = (
        f"FROM dispensing d WHERE {INS} AND d.sel_retn_cnt > 0 {limit}GROUP BY d.fixmedins_code, d.setl_id"
    )
    if sql.pg:
        types = {"t": "BIGINT", "ndrug": "BIGINT", "boxes": "BIGINT"}
        prev_columns = ", ".join(f"prev_{c} {types.get(c, 'TEXT')}" for c in _PREV)
        lags = ", ".join(f"LAG({values[c]}) OVER w" for c in _PREV)
        statement = (
            f"SELECT {select}, {lags} {grouped} "
            f"WINDOW w AS (PARTITION BY d.fixmedins_code ORDER BY {t}, d.setl_id)"
        )
        if only:
            sql.temp("rxtrace_lead_setl", f"{columns}, {prev_columns}", statement)
        else:
            with sql.scanning():
                sql.temp("rxtrace_lead_setl", f"{columns}, {prev_columns}", statement)
    else:
        # An INSERT appends rows in the order the sort hands them over (checked by the
        # figures' ``disorder``).
        sql.temp(
            "rxtrace_lead_setl",
            f"seq INTEGER PRIMARY KEY, {columns}",
            f"SELECT NULL, {select} {grouped} ORDER BY d.fixmedins_code, {t}, d.setl_id",
        )


def candidate_codes_sql(sql: Sql) -> str:
    """The codes any code rule could flag, in one pass over the insurance rows.

    A code on two rows or more is always a candidate; a code on one row is one when that row
    alone is a resale (two whole boxes or more), could hold more split units than the
    smallest box in the catalog, or names another drug than its product's. The exact tests are
    made in Python on the candidates' rows, so the pass only has to be cheap and to miss none.
    """
    if sql.pg:
        # Hash aggregation. Each row meets its product's drug through a hash join first, so
        # the groups carry a flag rather than a drug name: smaller partitions to spill, and a
        # tenth faster than joining the groups afterwards.
        return f"""
            SELECT d.key_hi, d.key_lo FROM dispensing d
            LEFT JOIN rxtrace_lead_prod p ON p.product = {sql.quot("d.key_hi", 1000)}
            WHERE {INS} GROUP BY d.key_hi, d.key_lo
            HAVING COUNT(*) >= 2
                OR (MIN(d.trdn_flag) = 0 AND SUM(d.sel_retn_cnt) >= 2)
                OR bool_or(d.med_list_codg <> p.med)
                OR (MIN(d.trdn_flag) <> 0
                    AND SUM(d.sel_retn_cnt) > (SELECT MIN(upb) FROM rxtrace_lead_upb))
        """
    # SQLite walks the key index in order, so the GROUP BY streams with no sort. A bare column
    # is the group's only row when COUNT(*) = 1, and cheaper than MIN() over text; the product
    # lookup runs only for the groups the cheaper tests did not settle.
    return f"""
        SELECT d.key_hi, d.key_lo FROM dispensing d WHERE {INS}
        GROUP BY d.key_hi, d.key_lo
        HAVING COUNT(*) >= 2
            OR (d.trdn_flag = 0 AND SUM(d.sel_retn_cnt) >= 2)
            OR (d.trdn_flag <> 0 AND SUM(d.sel_retn_cnt) > (SELECT MIN(upb) FROM rxtrace_lead_upb))
            OR d.med_list_codg <>
               (SELECT p.med FROM rxtrace_lead_prod p WHERE p.product = {sql.quot("d.key_hi", 1000)})
    """


# ---------------------------------------------------------------------------------------------
# The build


def _build_codes(sql: Sql) -> list[dict[str, Any]]:
    # A national code's first seven digits name its product; the catalog says which drug that
    # is. INTEGER PRIMARY KEY is SQLite's rowid: one b-tree lookup per group instead of two.
    sql.empty_temp("rxtrace_lead_prod", f"product {'BIGINT' if sql.pg else 'INTEGER'} PRIMARY KEY, med TEXT")
    sql.fill(
        "rxtrace_lead_prod",
        ("product", "med"),
        [{"product": p, "med": m} for p, m in catalog_products(sql).items()],
    )
    with sql.unique_groups():
        candidates = sql.rows(candidate_codes_sql(sql))
    return [{"key_hi": hi, "key_lo": lo} for hi, lo in candidates]


def _build_institutions(sql: Sql, params: LeadParams) -> list[dict[str, Any]]:
    """Every per-institution figure the shape rules and the exposures need, from one pass
    over the settlements, plus the visit numbers shared by several cards and each one's
    commonest multi-drug basket."""
    fill_settlements(sql)
    day = sql.quot("t", 86400)
    # A card-day is a distinct (card, day): the day's digits never hold a space, so the text
    # after the last space tells the day and what comes before it the card.
    figures = sql.rows(
        f"""
        SELECT inst, COUNT(*) AS setls, COUNT(DISTINCT psn) AS cards, SUM(boxes) AS boxes,
               SUM(nrows) AS nrows,
               COUNT(DISTINCT psn || ' ' || COALESCE(CAST({day} AS {sql.string}), '')) AS card_days,
               SUM(CASE WHEN sn IS NULL OR sn = '' THEN 1 ELSE 0 END) AS no_visit,
               SUM(pair * short) AS short, SUM(pair * short * same) AS short_same,
               SUM(pair * (1 - short)) AS long, SUM(pair * (1 - short) * same) AS long_same,
               SUM(disorder) AS disorder, SUM(fund) AS fund, SUM(billed_e4) AS billed_e4
        FROM (
            SELECT s.inst, s.psn, s.sn, s.t, s.boxes, s.nrows, s.fund, s.billed_e4,
                   CASE WHEN s.prev_t IS NOT NULL AND s.prev_psn <> s.psn
                        THEN 1 ELSE 0 END AS pair,
                   CASE WHEN s.t - s.prev_t <= {int(params.bunch_seconds)}
                        THEN 1 ELSE 0 END AS short,
                   CASE WHEN {SAME_BILL} THEN 1 ELSE 0 END AS same,
                   CASE WHEN s.prev_t > s.t OR (s.prev_t = s.t AND s.prev_setl_id >= s.setl_id)
                        THEN 1 ELSE 0 END AS disorder
            FROM {settlements(sql)}
        ) x GROUP BY inst
        """
    )
    if any(r.disorder for r in figures):
        raise RxtraceError("Internal error: settlements were not numbered in time order.")
    shared = dict(
        sql.rows(
            "SELECT inst, SUM(n) FROM (SELECT inst, sn, COUNT(*) AS n FROM rxtrace_lead_setl "
            "WHERE sn IS NOT NULL AND sn <> '' GROUP BY inst, sn HAVING MIN(psn) <> MAX(psn)) x "
            "GROUP BY inst"
        )
    )
    # The modal basket: (number of drugs, first drug, last drug, boxes) stands for the
    # basket; only baskets of two drugs or more, since one popular drug is normal anywhere.
    modal = {
        r.inst: r
        for r in sql.rows(
            "SELECT inst, ndrug, dmin, dmax, boxes, n FROM ("
            "  SELECT inst, ndrug, dmin, dmax, boxes, COUNT(DISTINCT psn) AS n, "
            "  ROW_NUMBER() OVER (PARTITION BY inst ORDER BY COUNT(DISTINCT psn) DESC, dmin) AS rn "
            "  FROM rxtrace_lead_setl WHERE ndrug >= 2 GROUP BY inst, ndrug, dmin, dmax, boxes"
            ") x WHERE rn = 1"
        )
    }
    kinds = dict(sql.rows("SELECT fixmedins_code, kind FROM institution"))
    rows = []
    for r in figures:
        m = modal.get(r.inst)
        rows.append(
            {
                "fixmedins_code": r.inst,
                "kind": kinds.get(r.inst),
                "setls": int(r.setls),
                "cards": int(r.cards),
                "boxes": int(r.boxes or 0),
                "sale_rows": int(r.nrows),
                "card_days": int(r.card_days),
                "no_visit": int(r.no_visit),
                "shared_visit": int(shared.get(r.inst) or 0),
                "short": int(r.short),
                "short_same": int(r.short_same),
                "long": int(r.long),
                "long_same": int(r.long_same),
                "modal_ndrug": None if m is None else int(m.ndrug),
                "modal_dmin": None if m is None else m.dmin,
                "modal_dmax": None if m is None else m.dmax,
                "modal_boxes": None if m is None else int(m.boxes),
                "modal_cards": None if m is None else int(m.n),
                "fund_fen": int(r.fund or 0),
                "billed_fen": int(r.billed_e4 or 0) // 100,
            }
        )
    return rows


def _build_windows(sql: Sql, params: LeadParams) -> list[dict[str, Any]]:
    """A card collecting one drug from several institutions within a window, or beyond a
    plausible quantity: the windows the cross-institution rules test.

    Windows are fixed buckets of ``window_days`` on two grids offset by half a window, so any
    burst shorter than half a window lies whole inside one bucket: set-based, no sliding join.
    """
    period = params.window_days * 86400
    half = period // 2
    floor_units = params.max_units_per_day * params.window_days
    epoch = sql.epoch("d.sel_retn_time")
    units = "CASE WHEN d.trdn_flag = 0 THEN d.sel_retn_cnt * u.upb ELSE d.sel_retn_cnt END"
    grid = (
        "SELECT d.med_list_codg, d.psn_no, {bucket}, "
        "COUNT(DISTINCT d.fixmedins_code), SUM({units}), COUNT(DISTINCT {day}) "
        "FROM dispensing d {join} LEFT JOIN rxtrace_lead_upb u ON u.med = d.med_list_codg "
        f"WHERE {INS} GROUP BY d.med_list_codg, d.psn_no, {{bucket}}"
    )
    columns = "med TEXT, psn TEXT, b BIGINT, insts BIGINT, units BIGINT, days BIGINT"
    # The first grid over every sale. On SQLite its table is kept in key order (the GROUP BY's
    # own order, so filling it costs no sort): the per-drug and per-card passes below then
    # stream through it instead of sorting it again.
    sql.temp(
        "rxtrace_lead_cw",
        columns,
        grid.format(bucket=sql.quot(epoch, period), day=sql.quot(epoch, 86400), units=units, join=""),
        sqlite_key="med, psn, b",
    )
    sql.temp(
        "rxtrace_lead_plausible",
        "med TEXT PRIMARY KEY, typical DOUBLE PRECISION, plausible DOUBLE PRECISION",
        f"SELECT c.med, AVG(c.units), "
        f"CASE WHEN {float(params.typical_factor)} * AVG(c.units) > {float(floor_units)} "
        f"THEN {float(params.typical_factor)} * AVG(c.units) ELSE {float(floor_units)} END "
        f"+ COALESCE(MAX(u.upb), 0) "
        f"FROM rxtrace_lead_cw c LEFT JOIN rxtrace_lead_upb u ON u.med = c.med "
        f"WHERE c.units > 0 GROUP BY c.med",
    )
    # A window of the second grid with two institutions or more takes two sales of one drug
    # to one card at two institutions within a window: either both in one bucket of the
    # first grid (which then has two institutions) or in two of its buckets. Only those
    # (drug, card) pairs are bucketed again.
    sql.temp(
        "rxtrace_lead_cwpairs",
        "med TEXT NOT NULL, psn TEXT NOT NULL",
        "SELECT med, psn FROM rxtrace_lead_cw GROUP BY med, psn HAVING COUNT(*) >= 2 OR MAX(insts) >= 2",
        sqlite_key="med, psn",
    )
    with sql.scanning():
        sql.temp(
            "rxtrace_lead_cw1",
            columns,
            grid.format(
                bucket=sql.quot(f"{epoch} + {half}", period),
                day=sql.quot(epoch, 86400),
                units=units,
                join="JOIN rxtrace_lead_cwpairs c ON c.med = d.med_list_codg AND c.psn = d.psn_no",
            ),
        )
    names = ("psn_no", "med_list_codg", "grid", "bucket", "institutions", "units", "typical", "plausible")
    return [
        dict(zip(names, row, strict=True))
        for row in sql.rows(
            " UNION ALL ".join(
                f"SELECT c.psn, c.med, {g}, c.b, c.insts, c.units, p.typical, p.plausible "
                f"FROM {table} c LEFT JOIN rxtrace_lead_plausible p ON p.med = c.med "
                f"WHERE c.insts >= {int(params.min_institutions)} "
                f"OR (c.insts >= 2 AND c.units > p.plausible)"
                for g, table in ((0, "rxtrace_lead_cw"), (1, "rxtrace_lead_cw1"))
            )
        )
    ]


def _build_doctors(sql: Sql, params: LeadParams) -> None:
    """``rxtrace_basis_doctor``: per doctor, sale rows, the institution shown, what the fund
    paid of what was billed, settlements, and the bursts among them."""
    # One row per (doctor, settlement), in time order per doctor: a burst is a settlement
    # billed to another card within ``burst_seconds`` of the doctor's previous one.
    t = f"MIN({sql.epoch('d.sel_retn_time')})"
    by_setl = (
        f"SELECT d.dr_code AS dr, d.setl_id AS setl, MIN(d.psn_no) AS psn, {t} AS t "
        f"FROM dispensing d WHERE {INS} AND d.sel_retn_cnt > 0 AND d.dr_code IS NOT NULL "
        f"GROUP BY d.dr_code, d.setl_id"
    )
    burst = int(params.burst_seconds)
    if sql.pg:
        with sql.scanning():
            sql.temp(
                "rxtrace_basis_drburst",
                "dr TEXT PRIMARY KEY, setls BIGINT, bursts BIGINT",
                f"SELECT dr, COUNT(*), SUM(CASE WHEN prev_psn <> psn AND t - prev_t <= {burst} "
                f"THEN 1 ELSE 0 END) FROM (SELECT x.*, LAG(psn) OVER w AS prev_psn, "
                f"LAG(t) OVER w AS prev_t FROM ({by_setl}) x "
                f"WINDOW w AS (PARTITION BY dr ORDER BY t, setl)) y GROUP BY dr",
            )
    else:
        # As for the settlements: numbered in the order the sort hands them over, the
        # previous one is the row ``seq - 1``.
        sql.temp(
            "rxtrace_basis_drsetl",
            "seq INTEGER PRIMARY KEY, dr TEXT, psn TEXT, t BIGINT",
            f"SELECT NULL, dr, psn, t FROM ({by_setl}) x ORDER BY dr, t, setl",
        )
        sql.temp(
            "rxtrace_basis_drburst",
            "dr TEXT PRIMARY KEY, setls BIGINT, bursts BIGINT",
            f"SELECT s.dr, COUNT(*), SUM(CASE WHEN p.dr = s.dr AND p.psn <> s.psn "
            f"AND s.t - p.t <= {burst} THEN 1 ELSE 0 END) FROM rxtrace_basis_drsetl s "
            f"LEFT JOIN rxtrace_basis_drsetl p ON p.seq = s.seq - 1 GROUP BY s.dr",
        )
    sql.temp(
        "rxtrace_basis_doctor",
        "dr_code TEXT, sale_rows BIGINT, fixmedins_code TEXT, fund_fen BIGINT, billed_fen BIGINT, "
        "setls BIGINT, bursts BIGINT",
        f"SELECT g.dr, g.n, g.inst, g.fund, {sql.quot('g.billed_e4', 100)}, b.setls, b.bursts FROM ("
        f"SELECT d.dr_code AS dr, COUNT(*) AS n, MIN(d.fixmedins_code) AS inst, "
        f"SUM(CASE WHEN d.finl_trns_pric_e4 IS NULL THEN 0 ELSE d.hifp_pay_fen END) AS fund, "
        f"SUM(COALESCE(d.finl_trns_pric_e4, 0) * d.sel_retn_cnt) AS billed_e4 FROM dispensing d "
        f"WHERE {INS} AND d.sel_retn_cnt > 0 AND d.dr_code IS NOT NULL GROUP BY d.dr_code"
        f") g LEFT JOIN rxtrace_basis_drburst b ON b.dr = g.dr",
    )


def _build_covisits(sql: Sql, params: LeadParams) -> list[dict[str, Any]]:
    """Pairs of cards settled within ``covisit_neighbours`` settlements of each other at one
    institution on one day, on two days or more (the rule asks for more).

    Neighbours, not every pair of a day: at a hospital of three hundred cards a day, every
    pair would be 45,000 rows a day; the neighbours are a few per settlement, and cards handed
    over the counter by one collector stand next to each other anyway.
    """
    k = max(1, int(params.covisit_neighbours))
    if sql.pg:
        lags = ", ".join(f"LAG(psn, {i}) OVER w AS p{i}, LAG(t, {i}) OVER w AS t{i}" for i in range(1, k + 1))
        lagged = (
            f"SELECT inst, psn, t, {lags} FROM rxtrace_lead_setl "
            f"WINDOW w AS (PARTITION BY inst ORDER BY t, setl_id)"
        )
        if sql.spark:
            # Spark evaluates no outer column inside VALUES; stack() turns the columns to rows.
            pairs = ", ".join(f"p{i}, t{i}" for i in range(1, k + 1))
            near = (
                f"SELECT inst, psn, t, p, pt FROM (SELECT inst, psn, t, stack({k}, {pairs}) AS (p, pt) "
                f"FROM ({lagged}) x) v WHERE p IS NOT NULL"
            )
        else:
            values = ", ".join(f"(p{i}, t{i})" for i in range(1, k + 1))
            near = (
                f"SELECT x.inst, x.psn, x.t, v.p, v.pt FROM ({lagged}) x "
                f"CROSS JOIN LATERAL (VALUES {values}) v(p, pt) WHERE v.p IS NOT NULL"
            )
    else:
        # The previous settlements are the rows just before (rowid range). CROSS JOIN and the
        # unary + keep SQLite from building an index on the institution and searching it
        # instead: 10 s against 0.2 s at half a million settlements.
        near = (
            f"SELECT s.inst, s.psn, s.t, p.psn AS p, p.t AS pt FROM rxtrace_lead_setl s "
            f"CROSS JOIN rxtrace_lead_setl p ON p.seq BETWEEN s.seq - {k} AND s.seq - 1 "
            f"WHERE +p.inst = s.inst"
        )
    names = ("psn_a", "psn_b", "days", "institutions", "fixmedins_code")
    # One sort: (pair, day) groups first, then the pair's days stream out of that order.
    # COUNT(DISTINCT) would cost SQLite a b-tree per pair, and nearly every pair is seen once;
    # whether the pair came together at one institution or several is all the rule asks.
    rows = sql.rows(
        f"SELECT a, b, COUNT(*), CASE WHEN MIN(i1) < MAX(i2) THEN 2 ELSE 1 END, MIN(i1) FROM ("
        f"SELECT CASE WHEN n.psn < n.p THEN n.psn ELSE n.p END AS a, "
        f"CASE WHEN n.psn < n.p THEN n.p ELSE n.psn END AS b, {sql.quot('n.t', 86400)} AS day, "
        f"MIN(n.inst) AS i1, MAX(n.inst) AS i2 "
        f"FROM ({near}) n WHERE n.p <> n.psn AND {sql.quot('n.pt', 86400)} = {sql.quot('n.t', 86400)} "
        f"GROUP BY 1, 2, 3"
        f") x GROUP BY a, b HAVING COUNT(*) >= 2"
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def _build_visits(sql: Sql, params: LeadParams) -> list[dict[str, Any]]:
    """A card's visits for one drug over the whole period (days with a sale), when at two
    institutions or more and on ``small_visits_min_visits`` days or more: the many small
    visits of "每月多次就诊少量配药", which no single window shows.

    The first grid's windows already hold each (drug, card)'s days per window; only the pairs
    with enough of them are read again from the sales.
    """
    epoch = sql.epoch("d.sel_retn_time")
    day = sql.quot(epoch, 86400)
    units = "CASE WHEN d.trdn_flag = 0 THEN d.sel_retn_cnt * u.upb ELSE d.sel_retn_cnt END"
    sql.temp(
        "rxtrace_lead_vpairs",
        "med TEXT NOT NULL, psn TEXT NOT NULL",
        f"SELECT med, psn FROM rxtrace_lead_cw GROUP BY med, psn "
        f"HAVING SUM(days) >= {int(params.small_visits_min_visits)} AND (COUNT(*) >= 2 OR MAX(insts) >= 2)",
        sqlite_key="med, psn",
    )
    names = ("psn_no", "med_list_codg", "visits", "institutions", "units", "first_day", "last_day", "typical")
    rows = sql.rows(
        f"SELECT v.psn, v.med, v.visits, v.insts, v.units, v.first_day, v.last_day, p.typical FROM ("
        f"SELECT d.psn_no AS psn, d.med_list_codg AS med, COUNT(DISTINCT {day}) AS visits, "
        f"COUNT(DISTINCT d.fixmedins_code) AS insts, SUM({units}) AS units, "
        f"MIN({day}) AS first_day, MAX({day}) AS last_day "
        f"FROM rxtrace_lead_vpairs c JOIN dispensing d ON d.med_list_codg = c.med AND d.psn_no = c.psn "
        f"LEFT JOIN rxtrace_lead_upb u ON u.med = d.med_list_codg "
        f"WHERE {INS} GROUP BY d.psn_no, d.med_list_codg HAVING COUNT(DISTINCT d.fixmedins_code) >= 2"
        f") v LEFT JOIN rxtrace_lead_plausible p ON p.med = v.med"
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def _build_mix(sql: Sql, params: LeadParams) -> None:
    """``rxtrace_basis_mix``: cards given baskets (two drugs or more) at one institution in
    ``no_treatment_min_windows`` windows of ``window_days`` or more, whose drugs do not come
    back as a treatment's do: fewer than ``no_treatment_core_share`` of its (drug, window)
    pairs there are of a drug given in more than half of the card's windows.

    A chronic patient's drugs come back every month; a basket billed on a card nobody treated
    is drawn anew each time. Only those few pairs of (card, institution) are kept: the rule
    weighs them against each institution's cards, which the basis already counts.
    """
    window = sql.quot(sql.epoch("d.sel_retn_time"), params.window_days * 86400)
    # One row per (card, institution, drug, window), in that order on SQLite so that the
    # groupings below stream through it.
    sql.temp(
        "rxtrace_lead_mix",
        "psn TEXT NOT NULL, inst TEXT NOT NULL, med TEXT NOT NULL, w BIGINT NOT NULL",
        f"SELECT d.psn_no, d.fixmedins_code, d.med_list_codg, {window} FROM dispensing d "
        f"WHERE {INS} AND d.sel_retn_cnt > 0 AND d.med_list_codg IS NOT NULL "
        f"GROUP BY d.psn_no, d.fixmedins_code, d.med_list_codg, {window}",
        sqlite_key="psn, inst, med, w",
    )
    sql.temp(
        "rxtrace_lead_mixpair",
        "psn TEXT NOT NULL, inst TEXT NOT NULL, windows BIGINT, baskets BIGINT",
        f"SELECT psn, inst, COUNT(*), SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) FROM ("
        f"SELECT psn, inst, w, COUNT(*) AS n FROM rxtrace_lead_mix GROUP BY psn, inst, w) x "
        f"GROUP BY psn, inst HAVING SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) >= "
        f"{int(params.no_treatment_min_windows)}",
        sqlite_key="psn, inst",
    )
    sql.temp(
        "rxtrace_basis_mix",
        "psn_no TEXT, fixmedins_code TEXT, windows BIGINT, baskets BIGINT, drugs BIGINT, "
        "lines BIGINT, core_lines BIGINT",
        f"SELECT p.psn, p.inst, p.windows, p.baskets, COUNT(*), SUM(m.k), "
        f"SUM(CASE WHEN 2 * m.k > p.windows THEN m.k ELSE 0 END) FROM rxtrace_lead_mixpair p "
        f"JOIN (SELECT psn, inst, med, COUNT(*) AS k FROM rxtrace_lead_mix GROUP BY psn, inst, med) m "
        f"ON m.psn = p.psn AND m.inst = p.inst GROUP BY p.psn, p.inst, p.windows, p.baskets "
        f"HAVING SUM(CASE WHEN 2 * m.k > p.windows THEN m.k ELSE 0 END) "
        f"< {float(params.no_treatment_core_share)} * SUM(m.k)",
    )
