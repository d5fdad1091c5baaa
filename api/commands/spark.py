"""``rxtrace spark …``: the batch jobs on Apache Spark, over the contract's own files or the
Parquet folders ``rxtrace export`` writes; the same options and the same answers as the
embedded commands."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from rxtrace.api.commands.common import FormatOption, app_context
from rxtrace.api.commands.geo import (
    CaseOption,
    HotspotFormat,
    HotspotFormatOption,
    LayerOption,
    PermutationsOption,
    ResolutionOption,
    SeedOption,
    print_hotspots,
)
from rxtrace.api.commands.investigate import LeadCaseOption, LeadKindOption, LeadLimitOption, print_leads
from rxtrace.api.commands.resolve import print_resolution
from rxtrace.api.output import Format, err
from rxtrace.geo.layers import Layer
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.contract import TABLES
from rxtrace.trace.investigate.params import LeadKind

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from rxtrace.trace.spark import Tables
    from rxtrace.trace.spark.contract import Sources, TableCount

__all__ = ["register"]

spark = typer.Typer(
    help=(
        "The batch jobs on Apache Spark (the spark extra and a Java runtime), over contract "
        "files or the Parquet folders `rxtrace export` writes."
    ),
    no_args_is_help=True,
)

MasterOption = typer.Option(
    "local[2]", "--master", help="Where Spark runs: local[N] on this machine, or spark://HOST:PORT."
)
PathsArgument = typer.Argument(
    ...,
    help=(
        "Contract files (CSV in UTF-8 or GB18030, JSON Lines: what `rxtrace load` takes, told "
        "by content) or folders of them, and folders `rxtrace export --parquet` wrote (or one "
        "table's folder). In a folder, a sub-folder named as a contract table that holds "
        "Parquet files is that table's export, every other file a contract file. A table may "
        "come from both: the export's rows first, as if the files were loaded into its "
        "database. Files no table fits are named on stderr and left out, rows set aside are "
        "counted there per file, as `rxtrace load` reports them. Each file is read and "
        "converted by one task, so every path must be readable by Spark's executors at the "
        "same place."
    ),
)
ConfOption = typer.Option(
    [],
    "--conf",
    help=(
        "A Spark property, KEY=VALUE as spark-submit takes it (repeat for several), over "
        "rxtrace's defaults: e.g. spark.driver.memory=16g (default: half this machine's memory), "
        "spark.sql.shuffle.partitions=4000 (default: 8 in local mode, 200 on a cluster), "
        "spark.driver.extraJavaOptions=… (default in local mode: -XX:+UseParallelGC), "
        "spark.executor.memory=…"
    ),
)
TableOption = typer.Option(
    None,
    "--table",
    help=f"Take every contract file as this table instead of telling it by the header: {', '.join(TABLES)}.",
)


def _report(sources: Sources, counts: Sequence[TableCount]) -> None:
    """What ``rxtrace load`` would report of the files, on stderr: refused files, and per table
    rows taken, duplicate and set aside (with the first rows set aside, by line and reason)."""
    for path, reason in sources.refused:
        err.print(f"Refused {escape(str(path))}: {escape(reason)}")
    for path, earlier in sources.again:
        err.print(f"Read once: {escape(str(path))} has the bytes of {escape(str(earlier))}", highlight=False)
    for table in counts:
        err.print(
            f"{table.table}: {table.taken:,} rows taken, {table.duplicate:,} duplicate, "
            f"{table.rejected:,} set aside, from {len(table.files)} file(s)"
        )
        for file in table.files:
            if not file.rejected:
                continue
            err.print(f"  {escape(str(file.path))}: {file.rejected:,} rows set aside", highlight=False)
            for line, reason in file.rejects:
                err.print(f"    line {line}: {escape(reason)}", highlight=False)
            if file.rejected > len(file.rejects):
                err.print(f"    … and {file.rejected - len(file.rejects):,} more", highlight=False)
    if any(t.rejected for t in counts):
        err.print("(`rxtrace load` of the same files keeps every one of them, with `rxtrace rejects`.)")


@contextmanager
def _tables(
    ctx: typer.Context,
    paths: list[Path],
    table: str | None,
    master: str,
    app_name: str,
    conf: list[str],
) -> Iterator[tuple[SparkSession, Tables]]:
    """A Spark session and the tables of ``paths``, contract files converted with the same key
    as ``rxtrace load`` (``RXTRACE_SECRET_KEY`` or ``RXTRACE_KEY_FILE``)."""
    from rxtrace.trace.spark import spark_session
    from rxtrace.trace.spark.contract import contract_tables, find_sources
    from rxtrace.trace.spark.session import parse_conf

    if table is not None and table not in TABLES:
        raise RxtraceError(f"Unknown table '{table}': use one of {', '.join(TABLES)}.")
    properties = parse_conf(conf)
    sources = find_sources(paths, table=table)
    protector = app_context(ctx).protector if sources.files else None
    with spark_session(master, app_name=app_name, conf=properties) as session:
        memory = session.sparkContext.getConf().get("spark.driver.memory", "1g")
        partitions = session.conf.get("spark.sql.shuffle.partitions")
        err.print(
            f"Spark {escape(master)}: driver memory {escape(memory or '')}, "
            f"{escape(partitions or '')} shuffle partitions",
            highlight=False,
        )
        if protector is not None:
            tables, counts = contract_tables(session, sources, protector)
            _report(sources, counts)
        else:
            from rxtrace.trace.spark import Tables

            _report(sources, [])
            tables = Tables(sources.folders)
        yield session, tables


@spark.command("resolve")
def resolve(
    ctx: typer.Context,
    paths: list[Path] = PathsArgument,
    codes: list[str] = typer.Option([], "--code", help="A code as read (repeat for several)."),
    case: str | None = typer.Option(None, "--case", help="Every box of every seizure of this case."),
    seizure: str | None = typer.Option(None, "--seizure", help="Every box of this seizure."),
    master: str = MasterOption,
    conf: list[str] = ConfOption,
    output: Format = FormatOption(),
    top: int = typer.Option(10, "--top", min=1, help="How many cards, institutions and doctors to rank."),
    table: str | None = TableOption,
) -> None:
    """Resolve codes (given, or of a seizure or case) over all sales on Spark: the same answer
    as `rxtrace resolve` on the same data. Reads files only: nothing is written or audited in
    a database; card numbers are masked unless RXTRACE_SHOW_SENSITIVE is set."""
    from rxtrace.trace.spark import spark_resolve

    reveal = app_context(ctx).settings.show_sensitive
    with _tables(ctx, paths, table, master, "rxtrace resolve", conf) as (session, tables):
        resolution = spark_resolve(session, tables, codes=codes, case_id=case, seizure_id=seizure)
    print_resolution(resolution, output, reveal=reveal, top=top)


@spark.command("leads")
def leads(
    ctx: typer.Context,
    paths: list[Path] = PathsArgument,
    kind: LeadKind | None = LeadKindOption,
    case: str | None = LeadCaseOption,
    master: str = MasterOption,
    conf: list[str] = ConfOption,
    output: Format = FormatOption(),
    limit: int = LeadLimitOption,
    save: bool = typer.Option(
        False,
        "--save/--no-save",
        help="Leads found on Spark are never saved (there is no database): `--no-save` is the default.",
    ),
    table: str | None = TableOption,
    basis: Path | None = typer.Option(
        None,
        "--basis",
        help=(
            "Keep the leads' basis (what every rule needs from all sales) in this folder, and "
            "use it again while the data and the parameters are the same: a later run, of "
            "another case say, skips the passes over every sale. On a cluster, a folder every "
            "executor reaches at the same path."
        ),
    ),
) -> None:
    """Score cards, institutions, doctors and codes over all sales on Spark, by the rules of
    `rxtrace leads`: the same answer as `rxtrace leads --no-save` on the same data (the leads'
    basis is built from every sale, with --kind only the part that kind's rules read, or kept
    whole with --basis). Reads files only: nothing is saved or audited in a database; card
    numbers are masked unless RXTRACE_SHOW_SENSITIVE is set."""
    from rxtrace.trace.spark.leads import spark_leads

    if save:
        raise RxtraceError(
            "Leads found on Spark cannot be saved: there is no database; load the data and run "
            "`rxtrace leads` to number and follow them."
        )
    reveal = app_context(ctx).settings.show_sensitive
    with _tables(ctx, paths, table, master, "rxtrace leads", conf) as (session, tables):
        found = spark_leads(
            session,
            tables,
            kind=kind.value if kind else None,
            case_id=case,
            basis=basis,
            on_build=lambda: err.print(
                "Building the leads' basis from every sale"
                + (f" (kept in {escape(str(basis))})" if basis else " (keep it with --basis DIR)")
            ),
        )
    print_leads(found, [], output, reveal=reveal, limit=limit, case=case)


@spark.command("hotspots")
def hotspots(
    ctx: typer.Context,
    paths: list[Path] = PathsArgument,
    case: str | None = CaseOption,
    layer: Layer = LayerOption,
    resolution: int | None = ResolutionOption,
    permutations: int | None = PermutationsOption,
    seed: int = SeedOption,
    master: str = MasterOption,
    conf: list[str] = ConfOption,
    output: HotspotFormat = HotspotFormatOption,
    table: str | None = TableOption,
) -> None:
    """Hot spots of a case over all sales on Spark: the same answer as `rxtrace hotspots`."""
    from rxtrace.geo.spark import spark_hotspots

    with _tables(ctx, paths, table, master, "rxtrace hotspots", conf) as (session, tables):
        result = spark_hotspots(
            session,
            tables,
            case_id=case,
            layer=layer.value,
            resolution=resolution,
            permutations=permutations,
            seed=seed,
        )
    print_hotspots(result, output, layer=layer.value, case=case)


def register(app: typer.Typer) -> None:
    app.add_typer(spark, name="spark")
