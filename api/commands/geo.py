"""``rxtrace hotspots``, ``rxtrace routes`` and ``rxtrace map``: where, and where to."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from rxtrace.api.commands.common import app_context
from rxtrace.api.output import err, print_csv, print_json, print_table
from rxtrace.geo.layers import Layer
from rxtrace.trace.errors import RxtraceError

__all__ = [
    "CaseOption",
    "HotspotFormat",
    "HotspotFormatOption",
    "LayerOption",
    "PermutationsOption",
    "ResolutionOption",
    "SeedOption",
    "print_hotspots",
    "register",
]


class HotspotFormat(StrEnum):
    table = "table"
    json = "json"
    geojson = "geojson"
    csv = "csv"


class RouteFormat(StrEnum):
    table = "table"
    json = "json"
    geojson = "geojson"


CaseOption = typer.Option(None, "--case", help="Case id; without it, every case on record.")


# The hot-spot options, shared with `rxtrace spark hotspots` (the same options, the same answer).
LayerOption = typer.Option(Layer.residences, "--layer", help="Which points to analyse.", case_sensitive=False)
ResolutionOption = typer.Option(
    None, "--resolution", min=0, max=15, help="H3 resolution; default: chosen from the points' density."
)
PermutationsOption = typer.Option(
    None, "--permutations", min=99, help="Gi* permutations; default: enough for the FDR step."
)
SeedOption = typer.Option(
    12345, "--seed", min=0, max=2**32 - 1, help="Permutation seed (results repeat exactly)."
)
HotspotFormatOption = typer.Option(
    HotspotFormat.table,
    "--format",
    "-f",
    case_sensitive=False,
    help="table, geojson (json is the same) or csv.",
)


def hotspots(
    ctx: typer.Context,
    case: str | None = CaseOption,
    layer: Layer = LayerOption,
    resolution: int | None = ResolutionOption,
    permutations: int | None = PermutationsOption,
    seed: int = SeedOption,
    output: HotspotFormat = HotspotFormatOption,
) -> None:
    """Hot spots (H3 cells, Getis-Ord Gi*, FDR) and compound clusters (DBSCAN) of a case."""
    from rxtrace.geo import service

    app = app_context(ctx)
    with app.session() as session:
        result = service.hotspots(
            session=session,
            case_id=case,
            layer=layer.value,
            resolution=resolution,
            permutations=permutations,
            seed=seed,
        )
    print_hotspots(result, output, layer=layer.value, case=case)


def print_hotspots(result: Any, output: HotspotFormat, *, layer: str, case: str | None) -> None:
    """A hot-spot result as the command prints it: notes on stderr, then the format asked for."""
    from rxtrace.geo.hotspots import describe_spot

    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if output in (HotspotFormat.json, HotspotFormat.geojson):
        print_json(result.to_geojson())
        return
    columns, rows = _hotspot_rows(result)
    if output is HotspotFormat.csv:
        print_csv(columns, rows)
        return
    s = result.summary()
    # The readable table says each spot in words; the statistics are in the CSV and JSON.
    shown = [r for r in rows if r[0] == "cluster" or r[8] != 0] or rows[:20]
    print_table(
        f"Hot spots: {layer}" + (f", case {case}" if case else ""),
        ("kind", "id", "lon", "lat", "what", "seizures", "cards", "boxes", "fund_yuan"),
        [(*r[:4], describe_spot(r[8], r[4], layer), *r[9:]) for r in shown],
        caption=f"{s['points']} points, H3 res {s['resolution']}, "
        f"{s['cells']} cells ({s['cells_tested']} tested), "
        f"{s['hot_cells']} hot, {s['cold_cells']} cold, {s['clusters']} clusters; "
        f"{s['permutations']} permutations; Getis-Ord Gi* after FDR (z, p in --format csv or json)",
    )


def _hotspot_rows(result: Any) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Every cell, then every cluster, as rows of the CSV (the table shows a readable part)."""
    columns = (
        "kind",
        "id",
        "lon",
        "lat",
        "count",
        "z",
        "p",
        "p_fdr",
        "bin",
        "seizures",
        "cards",
        "boxes",
        "fund_yuan",
    )
    rows: list[tuple[Any, ...]] = [
        (
            "cell",
            c.cell,
            c.lon,
            c.lat,
            c.count,
            round(c.z, 3),
            round(c.p, 5),
            round(c.p_fdr, 5),
            c.bin,
            " ".join(c.seizures),
            len(c.cards),
            c.boxes,
            c.fund_yuan,
        )
        for c in result.cells
    ]
    rows += [
        (
            "cluster",
            str(c.cluster_id),
            c.lon,
            c.lat,
            c.count,
            round(c.z, 3),
            f"{c.p:.3g}",
            f"{c.p_fdr:.3g}",
            c.bin,
            " ".join(c.seizures),
            len(c.cards),
            c.boxes,
            c.fund_yuan,
        )
        for c in result.clusters
    ]
    return columns, rows


def routes(
    ctx: typer.Context,
    case: str | None = CaseOption,
    near_m: float = typer.Option(500.0, "--near-m", min=0, help="'Near a seizure site' radius, metres."),
    heavy_kg: float = typer.Option(2.0, "--heavy-kg", min=0, help="A parcel this heavy or more is heavy."),
    min_repeats: int = typer.Option(3, "--min-repeats", min=1, help="Parcels needed to make a pattern."),
    far_km: float = typer.Option(300.0, "--far-km", min=0, help="A destination this far or more is far."),
    output: RouteFormat = typer.Option(
        RouteFormat.table, "--format", "-f", case_sensitive=False, help="table, json or geojson."
    ),
) -> None:
    """Courier flows from Shanghai districts to destination cities, most suspicious first."""
    from rxtrace.geo import service
    from rxtrace.geo.routes import FlagRules, routes_geojson

    app = app_context(ctx)
    rules = FlagRules(near_m=near_m, heavy_kg=heavy_kg, min_repeats=min_repeats, far_km=far_km)
    with app.session() as session:
        found = service.routes(session=session, case_id=case, rules=rules)
    if output is RouteFormat.json:
        print_json({"routes": [r.to_dict() for r in found]})
        return
    if output is RouteFormat.geojson:
        print_json(routes_geojson(found))
        return
    print_table(
        "Courier routes" + (f", case {case}" if case else ""),
        ("from", "", "to", "", "parcels", "kg", "km", "flagged", "why"),
        [
            (
                r.from_code,
                r.from_name,
                r.to_code,
                r.to_name,
                r.parcels,
                round(r.weight_kg, 1),
                None if r.distance_km is None else round(r.distance_km),
                "yes" if r.flagged else "",
                "; ".join(r.why),
            )
            for r in found
        ],
        caption=f"{len(found)} routes, {sum(r.flagged for r in found)} flagged",
    )


def map_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", "-o", help="FILE.html (offline, self-contained) or FILE.png."),
    case: str | None = CaseOption,
    layer: Layer = typer.Option(
        Layer.residences, "--layer", help="Hot spot layer drawn.", case_sensitive=False
    ),
) -> None:
    """Draw a case's map: hot spots, clusters, seizure sites, institutions and courier routes."""
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".png"):
        raise RxtraceError(f"--out must end in .html or .png, not {out.suffix or 'nothing'}")
    from rxtrace.geo import maps

    app = app_context(ctx)
    with app.session() as session:
        data = maps.build_map_data(session=session, case_id=case, layer=layer.value)
    if suffix == ".png":
        maps.write_png_map(data, out=out)
    else:
        maps.write_html_map(data, out=out)
    err.print(f"map written to {out}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("hotspots")(hotspots)
    app.command("routes")(routes)
    app.command("map")(map_command)
