"""``rxtrace cases`` and ``rxtrace seizures``: what is on record, with each one's boxes by status."""

from __future__ import annotations

from typing import Any

import typer

from rxtrace.api.commands.common import FormatOption, app_context
from rxtrace.api.documents import cases_document, seizures_document
from rxtrace.api.output import Format, err, print_csv, print_json, print_table
from rxtrace.trace.resolve import Status

__all__ = ["register"]

STATUSES = tuple(str(s) for s in Status)


def cases(ctx: typer.Context, output: Format = FormatOption()) -> None:
    """Every case on record, the latest seized first: seizures, codes read, boxes by status."""
    with app_context(ctx).session() as session:
        document = cases_document(session=session)
    columns = ("case_id", "seizures", "codes", "boxes", "first_seized_at", "last_seized_at")
    _print("Cases", document, columns, output, "cases", "No case on record: `rxtrace load` a seizures file.")


def seizures(
    ctx: typer.Context,
    case: str | None = typer.Option(None, "--case", help="Only this case's seizures."),
    output: Format = FormatOption(),
) -> None:
    """Seizures newest first: case, when, where, codes read, boxes by status."""
    with app_context(ctx).session() as session:
        document = seizures_document(session=session, case_id=case)
    columns = ("seizure_id", "case_id", "seized_at", "place_kind", "address", "codes", "boxes")
    empty = f"No seizure of case '{case}' on record." if case else "No seizure on record."
    _print("Seizures", document, columns, output, "seizures", empty)


def _print(
    title: str, document: dict[str, Any], columns: tuple[str, ...], output: Format, key: str, empty: str
) -> None:
    if output is Format.json:
        print_json(document)
        return
    found = document[key]
    rows = [[item[c] for c in columns] + [item["statuses"].get(s, 0) for s in STATUSES] for item in found]
    if output is Format.csv:
        print_csv(columns + STATUSES, rows)
        return
    if not found:
        err.print(empty)
        return
    print_table(title, columns + STATUSES, rows)


def register(app: typer.Typer) -> None:
    app.command("cases")(cases)
    app.command("seizures")(seizures)
