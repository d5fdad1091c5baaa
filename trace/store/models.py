"""The stored world: contract tables, load bookkeeping and seizure evidence.

Conventions that hold for every table:

* Money is stored as whole fen (``BIGINT``): exact on SQLite and PostgreSQL alike and fast to
  sum; the services turn it into :class:`decimal.Decimal` yuan. Unit prices keep four decimals
  (``*_e4``: ten-thousandths of a yuan) since split-pack prices go below a fen.
* Times are naive ``Asia/Shanghai`` wall-clock times: the contract's own convention, and the one
  every user reads. Inputs with another offset are converted at load.
* Coordinates are WGS-84 longitude/latitude; ``gcj02`` inputs are converted at load.
* A box key is stored as two ``BIGINT`` halves (see :func:`rxtrace.trace.codes.key_parts`).
* Sensitive fields (``certno``, ``psn_name``, ``sender_phone``) are never stored in clear: a
  keyed hash (``*_hmac``) for matching and a masked form (``*_masked``) for display.
* Columns of an input that the contract does not name are kept in ``extra`` (JSON).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rxtrace.trace.store.partitions import ensure_months, months_in

__all__ = [
    "Aggregation",
    "AuditEvent",
    "Base",
    "CatalogProduct",
    "Dispensing",
    "Institution",
    "InsuredPerson",
    "LeadBasisCard",
    "LeadBasisCode",
    "LeadBasisDoctor",
    "LeadBasisInstitution",
    "LeadBasisWindow",
    "LeadEvent",
    "LeadRecord",
    "LoadedFile",
    "LoginFailure",
    "LoginSession",
    "Meta",
    "RejectedRow",
    "ScanSource",
    "SeizedCode",
    "Seizure",
    "UserAccount",
    "Waybill",
]

# Autoincrementing 64-bit ids: SQLite only autoincrements a column declared INTEGER.
Id64 = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON(none_as_null=True)}


class LoadedFile(Base):
    """One input file, identified by the SHA-256 of its bytes: loading it again adds nothing."""

    __tablename__ = "loaded_file"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    table_name: Mapped[str | None] = mapped_column(String(32))
    file_format: Mapped[str | None] = mapped_column(String(16))
    encoding: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # loading | done | refused
    error: Mapped[str | None] = mapped_column(Text)
    rows_taken: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class RejectedRow(Base):
    """A row set aside with its reason: kept, never dropped, so nothing is silently lost."""

    __tablename__ = "rejected_row"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("loaded_file.id"), index=True)
    table_name: Mapped[str | None] = mapped_column(String(32))
    line_no: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("file_id", "line_no"),)


class Institution(Base):
    __tablename__ = "institution"

    fixmedins_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(16))
    adcode: Mapped[str | None] = mapped_column(String(6))
    address: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    crs_in: Mapped[str | None] = mapped_column(String(8))
    extra: Mapped[dict[str, Any] | None]
    file_id: Mapped[int | None] = mapped_column(BigInteger)


class InsuredPerson(Base):
    __tablename__ = "insured_person"

    psn_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    gender: Mapped[str | None] = mapped_column(String(8))
    adcode: Mapped[str | None] = mapped_column(String(6))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    crs_in: Mapped[str | None] = mapped_column(String(8))
    extra: Mapped[dict[str, Any] | None]
    file_id: Mapped[int | None] = mapped_column(BigInteger)


class CatalogProduct(Base):
    __tablename__ = "catalog_product"

    product_id: Mapped[str] = mapped_column(String(14), primary_key=True)
    med_list_codg: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(Text)
    spec: Mapped[str | None] = mapped_column(Text)
    manufacturer: Mapped[str | None] = mapped_column(Text)
    units_per_box: Mapped[int | None] = mapped_column(Integer)
    price_fen: Mapped[int | None] = mapped_column(BigInteger)
    extra: Mapped[dict[str, Any] | None]
    file_id: Mapped[int | None] = mapped_column(BigInteger)


class Aggregation(Base):
    """Packaging hierarchy: scanning a parent (case) code stands for every box under it."""

    __tablename__ = "aggregation"

    parent_hi: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_lo: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    child_hi: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    child_lo: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_key: Mapped[str] = mapped_column(Text)
    child_key: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(16))
    file_id: Mapped[int | None] = mapped_column(BigInteger)


class Dispensing(Base):
    """One traceability code on an insurance sale (3505) or return (3506).

    ``sel_retn_cnt`` and ``hifp_pay_fen`` are signed: a return is negative, whatever sign the
    export wrote, so sums over a code are its net quantity and the fund's net payment.
    """

    __tablename__ = "dispensing"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    # Digest of the row's contract values: the same sale in two overlapping exports is one row.
    row_digest: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    file_id: Mapped[int] = mapped_column(BigInteger)
    line_no: Mapped[int] = mapped_column(BigInteger)
    setl_id: Mapped[str] = mapped_column(String(64))
    mdtrt_sn: Mapped[str | None] = mapped_column(String(64))
    fixmedins_code: Mapped[str] = mapped_column(String(64), index=True)
    psn_no: Mapped[str] = mapped_column(String(64), index=True)
    certno_hmac: Mapped[str | None] = mapped_column(String(32))
    certno_masked: Mapped[str | None] = mapped_column(String(32))
    psn_name_hmac: Mapped[str | None] = mapped_column(String(32))
    psn_name_masked: Mapped[str | None] = mapped_column(String(32))
    dr_code: Mapped[str | None] = mapped_column(String(64))
    rxno: Mapped[str | None] = mapped_column(String(64))
    med_list_codg: Mapped[str] = mapped_column(String(64))
    drug_trac_codg: Mapped[str] = mapped_column(Text)
    code_family: Mapped[str] = mapped_column(String(8))
    key_hi: Mapped[int] = mapped_column(BigInteger)
    key_lo: Mapped[int] = mapped_column(BigInteger)
    trdn_flag: Mapped[int] = mapped_column(SmallInteger)
    sel_retn_cnt: Mapped[int] = mapped_column(Integer)
    sel_retn_time: Mapped[datetime] = mapped_column(DateTime)
    sel_retn_type: Mapped[str] = mapped_column(String(8))
    mdtrt_setl_type: Mapped[int] = mapped_column(SmallInteger)
    finl_trns_pric_e4: Mapped[int | None] = mapped_column(BigInteger)
    hifp_pay_fen: Mapped[int] = mapped_column(BigInteger)
    manu_lotnum: Mapped[str | None] = mapped_column(String(64))
    expy_end: Mapped[date | None] = mapped_column(Date)
    extra: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_dispensing_key", "key_hi", "key_lo"),)


@event.listens_for(Dispensing, "before_insert")
def _month_partition(_mapper: Any, connection: Connection, target: Dispensing) -> None:
    """A sale stored through the ORM (tests, small tools) finds its month's partition made, as
    a load's rows do (``rxtrace.trace.store.bulk``); nothing on SQLite."""
    ensure_months(connection, Dispensing.__tablename__, months_in([target.sel_retn_time]))


class Waybill(Base):
    __tablename__ = "waybill"

    waybill_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    ship_time: Mapped[datetime] = mapped_column(DateTime)
    carrier: Mapped[str | None] = mapped_column(Text)
    sender_phone_hmac: Mapped[str | None] = mapped_column(String(32))
    sender_phone_masked: Mapped[str | None] = mapped_column(String(32))
    sender_adcode: Mapped[str | None] = mapped_column(String(6))
    sender_lon: Mapped[float | None] = mapped_column(Float)
    sender_lat: Mapped[float | None] = mapped_column(Float)
    receiver_adcode: Mapped[str] = mapped_column(String(6))
    receiver_lon: Mapped[float | None] = mapped_column(Float)
    receiver_lat: Mapped[float | None] = mapped_column(Float)
    crs_in: Mapped[str | None] = mapped_column(String(8))
    weight_kg: Mapped[float | None] = mapped_column(Float)
    pieces: Mapped[int | None] = mapped_column(Integer)
    declared_content: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any] | None]
    file_id: Mapped[int | None] = mapped_column(BigInteger)


class Seizure(Base):
    __tablename__ = "seizure"

    seizure_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    seized_at: Mapped[datetime] = mapped_column(DateTime)
    place_kind: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    crs_in: Mapped[str | None] = mapped_column(String(8))
    waybill_no: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any] | None]
    file_id: Mapped[int | None] = mapped_column(BigInteger)


class ScanSource(Base):
    """An image, video or camera session that codes were read from: the scan's evidence."""

    __tablename__ = "scan_source"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    seizure_id: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # image | video | camera
    frames: Mapped[int | None] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("seizure_id", "sha256"),)


class SeizedCode(Base):
    """A code read off a seized box, by a hand scanner (loaded file) or by camera (scan).

    A code that parses as no family is kept with ``parse_error``: it resolves as ``malformed``.
    """

    __tablename__ = "seized_code"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    row_digest: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    seizure_id: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(Text)
    code_family: Mapped[str | None] = mapped_column(String(8))
    code_key: Mapped[str | None] = mapped_column(Text)
    key_hi: Mapped[int | None] = mapped_column(BigInteger)
    key_lo: Mapped[int | None] = mapped_column(BigInteger)
    parse_error: Mapped[str | None] = mapped_column(Text)
    scanned_at: Mapped[datetime | None] = mapped_column(DateTime)
    box_med_list_codg: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))  # hand | camera
    file_id: Mapped[int | None] = mapped_column(BigInteger)
    line_no: Mapped[int | None] = mapped_column(BigInteger)
    scan_source_id: Mapped[int | None] = mapped_column(ForeignKey("scan_source.id"))
    frame: Mapped[int | None] = mapped_column(Integer)
    polygon: Mapped[list[list[int]] | None] = mapped_column(JSON(none_as_null=True))
    symbology: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[str | None] = mapped_column(String(8))
    extra: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_seized_code_key", "key_hi", "key_lo"),)


class Meta(Base):
    """Facts about the database itself, such as the fingerprint of the hashing key."""

    __tablename__ = "meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LeadRecord(Base):
    """A lead raised by the analysis (a card, institution, doctor or code) and its workflow state.

    One row per (kind, entity): re-running the analysis refreshes the score and findings but
    keeps the state an investigator set, as an alert in a verification system does.
    """

    __tablename__ = "lead"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # card | institution | doctor | code
    entity_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # new | investigating | escalated | closed
    score: Mapped[float] = mapped_column(Float)
    rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    evidence: Mapped[dict[str, Any] | None]
    scope: Mapped[str | None] = mapped_column(String(64))  # case id of the last run, None = all
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("kind", "entity_id"),)


class LeadEvent(Base):
    """One step of a lead's history: who moved it, from what to what, when and why."""

    __tablename__ = "lead_event"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


# The leads' basis: what the analysis needs from every sale, kept from one load to the next so
# that ``rxtrace leads`` reads a few thousand rows instead of sorting all sales once per rule.
# Rebuilt as a whole whenever the sales, institutions or catalog have grown
# (``rxtrace.trace.investigate.basis``); never edited by hand, never the only copy of anything.


class LeadBasisCode(Base):
    """A code any code rule could flag: on two insurance rows or more, or one suspect row."""

    __tablename__ = "lead_basis_code"

    key_hi: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key_lo: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class LeadBasisInstitution(Base):
    """One institution's settlements summed up for the shape rules and the exposures."""

    __tablename__ = "lead_basis_institution"

    fixmedins_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(16))
    setls: Mapped[int] = mapped_column(BigInteger)
    cards: Mapped[int] = mapped_column(BigInteger)
    boxes: Mapped[int] = mapped_column(BigInteger)
    sale_rows: Mapped[int] = mapped_column(BigInteger)
    card_days: Mapped[int] = mapped_column(BigInteger)
    no_visit: Mapped[int] = mapped_column(BigInteger)
    shared_visit: Mapped[int] = mapped_column(BigInteger)
    short: Mapped[int] = mapped_column(BigInteger)
    short_same: Mapped[int] = mapped_column(BigInteger)
    long: Mapped[int] = mapped_column(BigInteger)
    long_same: Mapped[int] = mapped_column(BigInteger)
    modal_ndrug: Mapped[int | None] = mapped_column(BigInteger)
    modal_dmin: Mapped[str | None] = mapped_column(String(64))
    modal_dmax: Mapped[str | None] = mapped_column(String(64))
    modal_boxes: Mapped[int | None] = mapped_column(BigInteger)
    modal_cards: Mapped[int | None] = mapped_column(BigInteger)
    fund_fen: Mapped[int | None] = mapped_column(BigInteger)
    """What the fund paid on the sales whose price is known."""
    billed_fen: Mapped[int | None] = mapped_column(BigInteger)
    """Their price times quantity: what was billed in all."""


class LeadBasisWindow(Base):
    """A card's window of one drug with two institutions or more: cross-institution dispensing."""

    __tablename__ = "lead_basis_window"

    psn_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    med_list_codg: Mapped[str] = mapped_column(String(64), primary_key=True)
    grid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    institutions: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int | None] = mapped_column(BigInteger)
    typical: Mapped[float | None] = mapped_column(Float)
    plausible: Mapped[float | None] = mapped_column(Float)


class LeadBasisCard(Base):
    """Insurance sale rows per card: the cards' exposure."""

    __tablename__ = "lead_basis_card"

    psn_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    sale_rows: Mapped[int] = mapped_column(BigInteger)


class LeadBasisDoctor(Base):
    """Insurance sale rows per doctor, and the institution a doctor is shown at."""

    __tablename__ = "lead_basis_doctor"

    dr_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    sale_rows: Mapped[int] = mapped_column(BigInteger)
    fixmedins_code: Mapped[str | None] = mapped_column(String(64))
    fund_fen: Mapped[int | None] = mapped_column(BigInteger)
    """What the fund paid on the doctor's sales whose price is known."""
    billed_fen: Mapped[int | None] = mapped_column(BigInteger)
    """What those sales billed (price × quantity)."""
    setls: Mapped[int | None] = mapped_column(BigInteger)
    bursts: Mapped[int | None] = mapped_column(BigInteger)
    """Settlements billed to another card within ``bunch_seconds`` of the doctor's previous one."""


class LeadBasisCovisit(Base):
    """Two cards settled one right after the other at one institution, on two days or more.

    Rented cards travel together: a collector hands them over the counter one after another.
    Neighbours in an institution's day (a few settlements apart) rather than every pair of
    the day, so the pairs grow with the sales, not with their square at a busy hospital.
    """

    __tablename__ = "lead_basis_covisit"

    psn_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    psn_b: Mapped[str] = mapped_column(String(64), primary_key=True)
    days: Mapped[int] = mapped_column(BigInteger)
    institutions: Mapped[int] = mapped_column(BigInteger)
    """1 when every day together was at one institution, 2 when at several."""
    fixmedins_code: Mapped[str | None] = mapped_column(String(64))
    """One institution where they came together (the first by code)."""


class LeadBasisVisits(Base):
    """A card's visits for one drug over the whole period, when at two institutions or more."""

    __tablename__ = "lead_basis_visits"

    psn_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    med_list_codg: Mapped[str] = mapped_column(String(64), primary_key=True)
    visits: Mapped[int] = mapped_column(BigInteger)
    institutions: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int | None] = mapped_column(BigInteger)
    first_day: Mapped[int] = mapped_column(BigInteger)
    last_day: Mapped[int] = mapped_column(BigInteger)
    typical: Mapped[float | None] = mapped_column(Float)
    """What a card usually takes of the drug in ``window_days``."""


class LeadBasisMix(Base):
    """A card given baskets at one institution window after window, in a mix that does not
    look like a treatment: few of its drugs' windows are of a drug it got in most of them."""

    __tablename__ = "lead_basis_mix"

    psn_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    windows: Mapped[int] = mapped_column(BigInteger)
    """Windows of ``window_days`` with a sale to the card there."""
    baskets: Mapped[int] = mapped_column(BigInteger)
    """Those with two drugs or more."""
    drugs: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(BigInteger)
    """(drug, window) pairs: each drug counted once in each window it was given in."""
    core_lines: Mapped[int] = mapped_column(BigInteger)
    """Those of drugs given in more than half of the windows: a treatment's."""


class LeadBasisDrug(Base):
    """What a card usually takes of a drug in ``window_days``, and the plausible most."""

    __tablename__ = "lead_basis_drug"

    med_list_codg: Mapped[str] = mapped_column(String(64), primary_key=True)
    typical: Mapped[float | None] = mapped_column(Float)
    plausible: Mapped[float | None] = mapped_column(Float)


# Accounts, sessions and the audit log (``rxtrace.trace.accounts``).


class UserAccount(Base):
    """A person who may log in: a role and an argon2 hash of the password, never the password."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # investigator | supervisor | admin
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LoginSession(Base):
    """A login kept server-side. Only SHA-256 digests of its tokens are stored: whoever reads
    the database cannot act as the user."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    address: Mapped[str | None] = mapped_column(String(64))


class LoginFailure(Base):
    """A failed login, counted per user name and per address to throttle guessing."""

    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)


class AuditEvent(Base):
    """Who read whose data, when, from where, unmasked or not, and why.

    Append-only: the database refuses UPDATE and DELETE (triggers made by the migration), and
    ``hash`` chains each event to ``prev_hash``, the one before it.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(200))
    params: Mapped[str] = mapped_column(Text)  # JSON, keys sorted: hashed as written
    persons: Mapped[str] = mapped_column(Text)  # JSON list of psn_no, sorted
    revealed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
