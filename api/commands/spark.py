"""``rxtrace spark …``: the batch jobs on Apache Spark, over the Parquet folders ``rxtrace
export`` writes; the same options and the same answers as the embedded commands."""

from __future__ import annotations

from pathlib import Path

import typer

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
from rxtrace.api.commands.resolve import print_resolution
from rxtrace.api.output import Format
from rxtrace.geo.layers import Layer

__all__ = ["register"]

spark = typer.Typer(
    help="The batch jobs on Apache Spark (the spark extra and a Java runtime), over Parquet folders.",
    no_args_is_help=True,
)

MasterOption = typer.Option(
    "local[2]", "--master", help="Where Spark runs: local[N] on this machine, or spark://HOST:PORT."
)


@spark.command("resolve")
def resolve(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., help="Folders `rxtrace export --parquet` wrote (or single tables' folders)."
    ),
    codes: list[str] = typer.Option([], "--code", help="A code as read (repeat for several)."),
    case: str | None = typer.Option(None, "--case", help="Every box of every seizure of this case."),
    seizure: str | None = typer.Option(None, "--seizure", help="Every box of this seizure."),
    master: str = MasterOption,
    output: Format = FormatOption(),
    top: int = typer.Option(10, "--top", min=1, help="How many cards, institutions and doctors to rank."),
) -> None:
    """Resolve codes (given, or of a seizure or case) over all sales on Spark: the same answer
    as `rxtrace resolve` on the same data. Reads files only: nothing is written or audited in
    a database; card numbers are masked unless RXTRACE_SHOW_SENSITIVE is set."""
    from rxtrace.trace.spark import find_tables, spark_resolve, spark_session

    tables = find_tables(paths)
    reveal = app_context(ctx).settings.show_sensitive
    with spark_session(master, app_name="rxtrace resolve") as session:
        resolution = spark_resolve(session, tables, codes=codes, case_id=case, seizure_id=seizure)
    print_resolution(resolution, output, reveal=reveal, top=top)


@spark.command("hotspots")
def hotspots(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., help="Folders `rxtrace export --parquet` wrote (or single tables' folders)."
    ),
    case: str | None = CaseOption,
    layer: Layer = LayerOption,
    resolution: int | None = ResolutionOption,
    permutations: int | None = PermutationsOption,
    seed: int = SeedOption,
    master: str = MasterOption,
    output: HotspotFormat = HotspotFormatOption,
) -> None:
    """Hot spots of a case over all sales on Spark: the same answer as `rxtrace hotspots`."""
    from rxtrace.geo.spark import spark_hotspots
    from rxtrace.trace.spark import find_tables, spark_session

    tables = find_tables(paths)
    with spark_session(master, app_name="rxtrace hotspots") as session:
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
