"""``rxtrace load``, ``rxtrace rejects`` and ``rxtrace export``: data in, what was set aside, and
the stored tables out as Parquet."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import TaskID

from rxtrace.api.commands.common import FormatOption, app_context, audit_shown, progress_bar
from rxtrace.api.documents import load_document, rejects_document
from rxtrace.api.output import Format, err, print_csv, print_json, print_table
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.contract import TABLES
from rxtrace.trace.ingest.load import LoadReport, load_paths

if TYPE_CHECKING:
    from rxtrace.trace.investigate.basis import BasisInfo

__all__ = ["register"]


def load(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files or folders of contract data."),
    table: str | None = typer.Option(
        None, "--table", help=f"Force the table instead of telling it by the header: {', '.join(TABLES)}."
    ),
    output: Format = FormatOption(),
    prepare_leads: bool = typer.Option(
        True,
        "--prepare-leads/--no-prepare-leads",
        help="After sales, institutions or catalog rows are stored, sum up what the lead rules "
        "need from all sales (the leads' basis), so `rxtrace leads` reads it instead of every "
        "sale (also when a load stopped before it did). Skip it for a run of small loads: the next "
        "`rxtrace leads` prepares it then.",
    ),
) -> None:
    """Load contract files (CSV in UTF-8 or GB18030, JSON Lines); loading a file twice adds nothing."""
    from rxtrace.trace.investigate import LeadParams
    from rxtrace.trace.investigate.basis import ensure_basis, is_fresh

    app = app_context(ctx)
    basis: BasisInfo | None = None
    started = time.monotonic()
    with progress_bar() as progress, app.session() as session:
        tasks: dict[str, TaskID] = {}
        start_times: dict[str, float] = {}

        def hook(name: str, done: int, total: int, rows: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total, rate="")
                start_times[name] = time.monotonic()
            elapsed = max(time.monotonic() - start_times[name], 1e-6)
            progress.update(tasks[name], completed=done, rate=f"{rows:,} rows, {rows / elapsed:,.0f}/s")

        def stage(name: str, what: str) -> None:
            if name in tasks:
                progress.update(tasks[name], rate=what)

        report = load_paths(
            paths, session=session, protector=app.protector, table=table, progress=hook, stage=stage
        )
        grown = {"dispensing", "institutions", "catalog"} & {
            name for name, t in report.per_table().items() if t["taken"]
        }
        # Also when nothing was taken but the basis does not describe what is stored: a load
        # stopped after its last row and before its basis leaves it so, and its rerun takes
        # nothing (the next `rxtrace leads` would build it; the load's promise is that it is
        # ready).
        if prepare_leads and (grown or not is_fresh(session=session, params=LeadParams())):
            progress.add_task("leads' basis", total=None, rate="summing up every sale for the lead rules")
            session.commit()
            basis = ensure_basis(session=session, params=LeadParams(), parallel=True)
    elapsed = time.monotonic() - started
    _print_load(report, output, elapsed, basis)
    if report.refused:
        first = report.refused[0]
        raise RxtraceError(
            f"{len(report.refused)} of {len(report.files)} file(s) refused; "
            f"first: {first.path}: {first.error}"
        )
    if report.incomplete:
        first = report.incomplete[0]
        raise RxtraceError(
            f"{len(report.incomplete)} of {len(report.files)} file(s) not wholly accounted for; "
            f"first: {first.path}: {first.error}"
        )


def _print_load(report: LoadReport, output: Format, elapsed: float, basis: BasisInfo | None) -> None:
    if output is Format.json:
        print_json(load_document(report, seconds=elapsed, basis=basis))
        return
    rows = [
        (
            Path(f.path).name,
            f.table or "-",
            f.status,
            f.file_format,
            f.encoding,
            f.taken,
            f.duplicate,
            f.rejected,
            f.error or "",
        )
        for f in report.files
    ]
    columns = ("file", "table", "status", "format", "encoding", "taken", "duplicate", "set aside", "reason")
    if output is Format.csv:
        print_csv(columns, rows)
        return
    print_table("Files", columns, rows)
    totals = report.per_table()
    print_table(
        "Rows per table",
        ("table", "taken", "duplicate", "set aside"),
        [(name, t["taken"], t["duplicate"], t["rejected"]) for name, t in sorted(totals.items())],
        caption=f"{sum(t['taken'] for t in totals.values()):,} rows taken in {elapsed:.1f} s; "
        "`rxtrace rejects` lists what was set aside"
        + ("" if basis is None else f"; leads' basis ready ({basis.seconds:.1f} s)"),
    )


def rejects(
    ctx: typer.Context,
    table: str | None = typer.Option(None, "--table", help="Only rows of this table."),
    file: str | None = typer.Option(None, "--file", help="Only rows of files whose path contains this."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many rows."),
    output: Format = FormatOption(),
) -> None:
    """List the rows set aside by loads: file, line, reason and the row as it was."""
    if table is not None and table not in TABLES:
        raise RxtraceError(f"Unknown table '{table}': use one of {', '.join(TABLES)}.")
    app = app_context(ctx)
    with app.session() as session:
        document = rejects_document(session=session, table=table, file=file, limit=limit)
        # Set-aside rows are shown as written, card numbers and all.
        audit_shown(
            session,
            command="rejects",
            params={"table": table, "file": file, "rows": len(document["rejects"])},
            persons=[],
            revealed=True,
            reason="rows set aside are shown as they were written",
        )
    if output is Format.json:
        print_json(document)
        return
    found = document["rejects"]
    refused = document["refused_files"]
    rows = [(r["file"], r["table"], r["line"], r["reason"], r["raw"][:120]) for r in found]
    if output is Format.csv:
        whole = [(f["file"], None, None, f"file refused: {f['reason']}", None) for f in refused]
        print_csv(("file", "table", "line", "reason", "raw"), rows + whole)
        return
    if rows:
        print_table("Rows set aside", ("file", "table", "line", "reason", "row"), rows)
    if refused:
        print_table("Files refused", ("file", "reason"), [(f["file"], f["reason"]) for f in refused])
    if not found and not refused:
        err.print("Nothing was set aside.")


def export(
    ctx: typer.Context,
    parquet: Path = typer.Option(..., "--parquet", help="Folder to write one Parquet folder per table into."),
    tables: list[str] = typer.Option(
        [], "--table", help="Only this table (repeat for several); every contract table by default."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace a table's folder that already holds files."
    ),
    output: Format = FormatOption(),
) -> None:
    """Write the stored contract tables as Parquet (sales partitioned by month), for a cluster."""
    from rxtrace.trace.ingest.export import EXPORTED, export_parquet

    unknown = [t for t in tables if t not in EXPORTED]
    if unknown:
        raise RxtraceError(f"Unknown table '{unknown[0]}': use one of {', '.join(EXPORTED)}.")
    app = app_context(ctx)
    started = time.monotonic()
    with app.session() as session:
        report = export_parquet(parquet, session=session, tables=tables or None, replace=replace)
        # The files hold every card number as stored: a bulk disclosure, audited as one.
        audit_shown(
            session,
            command="export",
            params={
                "parquet": str(parquet),
                "tables": sorted(report.rows),
                "rows": sum(report.rows.values()),
            },
            persons=[],
            revealed=True,
            reason="the stored tables written to files",
        )
    elapsed = time.monotonic() - started
    document = {**report.to_dict(), "seconds": round(elapsed, 3)}
    if output is Format.json:
        print_json(document)
        return
    rows = [(t["table"], t["rows"], t["files"]) for t in document["tables"]]
    if output is Format.csv:
        print_csv(("table", "rows", "files"), rows)
        return
    print_table(
        "Parquet written",
        ("table", "rows", "files"),
        rows,
        caption=f"{sum(report.rows.values()):,} rows under {parquet} in {elapsed:.1f} s",
    )


def register(app: typer.Typer) -> None:
    app.command("load")(load)
    app.command("rejects")(rejects)
    app.command("export")(export)
