"""``rxtrace demo``: the main job end to end on a synthetic Shanghai world.

Generate the world as contract files, load them into the embedded database, scan photos of a
seizure's boxes, resolve the case, rank leads, draw the maps and write the dossier. Each later
step runs when its part of rxtrace is installed, and says where its output went.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rxtrace.api.commands.common import app_context
from rxtrace.api.commands.resolve import print_resolution
from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext
from rxtrace.api.output import Format, err, print_table

if TYPE_CHECKING:
    from rxtrace.trace.demo.world import DemoWorld

__all__ = ["register"]


def demo(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("rxtrace-demo"), "--dir", help="Where the demo writes everything."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database for the demo (default: a SQLite file in --dir)."
    ),
    persons: int = typer.Option(3000, "--persons", min=50, help="Insured persons in the world."),
    seed: int = typer.Option(2026, "--seed", help="The world's random seed."),
    fresh: bool = typer.Option(True, "--fresh/--keep", help="Start from an empty demo folder."),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Then serve the pages on the demo (--no-serve: batch only)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the pages listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port the pages listen on."),
) -> None:
    """Build a demo world and run load, scan, resolve, leads, map and report on it; then serve
    the pages on it with a demo account (``--no-serve`` stops after the batch)."""
    # Loaded here, not with the command line: every other command would pay for them.
    from rxtrace.trace.demo.world import generate_world
    from rxtrace.trace.ingest.load import load_paths
    from rxtrace.trace.investigate import LeadParams
    from rxtrace.trace.investigate.basis import ensure_basis
    from rxtrace.trace.resolve.service import resolve_case

    base = app_context(ctx)
    if fresh and folder.exists():
        if not (folder / ".rxtrace-demo").exists():
            raise typer.BadParameter(f"'{folder}' exists and is not a demo folder; choose another --dir.")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".rxtrace-demo").write_text("made by rxtrace demo\n")
    url = database_url or f"sqlite:///{(folder / 'rxtrace.db').resolve()}"
    app = AppContext(
        Settings(
            data_dir=folder.resolve(),
            database_url=url,
            secret_key=base.settings.secret_key,
            key_file=folder.resolve() / "secret.key",
        )
    )

    started = time.monotonic()
    err.print(f"[bold]1. World[/] writing contract files to {folder / 'data'}")
    world = generate_world(folder / "data", seed=seed, persons=persons)
    err.print(f"   {world.dispensing_rows:,} dispensing rows, {len(world.files)} files")

    err.print(f"[bold]2. Load[/] into {url}")
    with app.session() as session:
        report = load_paths(world.files, session=session, protector=app.protector)
    for name, totals in sorted(report.per_table().items()):
        err.print(f"   {name:<13} {totals['taken']:>8,} taken  {totals['rejected']:>4} set aside")
    if report.refused:
        raise typer.Exit(1)
    with app.session() as session:  # as `rxtrace load` does after storing sales
        basis = ensure_basis(session=session, params=LeadParams(), parallel=True)
    err.print(f"   the leads' basis summed up from every sale in {basis.seconds:.1f} s")

    _scan_photos(app, world, folder)

    err.print(f"[bold]4. Resolve[/] case {world.case_id}")
    with app.session() as session:
        resolution = resolve_case(world.case_id, session=session)
    # The summary and the rankings; every box is in the dossier's files.
    print_resolution(resolution, Format.table, reveal=False, top=5, boxes=False)

    _leads(app, world.case_id)
    maps = _maps(app, world.case_id, folder)
    _dossier(app, world.case_id, folder, maps)
    err.print(f"Done in {time.monotonic() - started:.1f} s. Everything is in {folder}/.")
    err.print(
        f"Try: RXTRACE_DATABASE_URL={url} RXTRACE_KEY_FILE={folder.resolve() / 'secret.key'} "
        f"{_command()} resolve --case {world.case_id} --format json",
        markup=False,
        highlight=False,
    )
    if serve:
        _serve(app, host=host, port=port)


DEMO_USER = "demo"


def _serve(app: AppContext, *, host: str, port: int) -> None:
    """Serve the pages on the demo world, with a supervisor account whose password is new
    each run and printed: the demo holds no one's real data."""
    from rxtrace.api.commands.serve import run_server
    from rxtrace.trace.accounts import Role, add_user, list_users, set_password

    password = secrets.token_urlsafe(9)
    with app.session() as session:
        if any(a.name == DEMO_USER for a in list_users(session=session)):
            set_password(DEMO_USER, password, session=session)
        else:
            add_user(DEMO_USER, password, Role.supervisor, session=session)
        session.commit()
    err.print(
        f"8. Pages: open http://{host}:{port}/ and log in as '{DEMO_USER}' with password "
        f"{password} (a supervisor). Ctrl-C stops the server. "
        "Phones need HTTPS: README, 'HTTPS for phones'.",
        markup=False,
        highlight=False,
    )
    run_server(app.settings, host=host, port=port)


def _command() -> str:
    """How a shell reaches this rxtrace: its name when it is on PATH (and the same one), else
    its full path (after `make demo` it lives in the project's .venv/bin)."""
    mine = Path(sys.executable).with_name("rxtrace")
    found = shutil.which("rxtrace")
    if found and mine.exists() and Path(found).resolve() == mine.resolve():
        return "rxtrace"
    return str(mine) if mine.exists() else "rxtrace"


def _scan_photos(app: AppContext, world: DemoWorld, folder: Path) -> None:
    """Photograph the warehouse pile (rendered, with damage) and scan the photos."""
    import cv2

    from rxtrace.api.scanning import catalog_products, record_result
    from rxtrace.scanners.render import render_pile
    from rxtrace.scanners.service import scan_paths

    photos = folder / "photos"
    photos.mkdir(exist_ok=True)
    per_photo = 8
    for n, start in enumerate(range(0, len(world.photo_codes), per_photo)):
        image, _truth = render_pile(world.photo_codes[start : start + per_photo], seed=100 + n, damage="mild")
        cv2.imwrite(str(photos / f"pile_{n + 1:02d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    err.print(f"[bold]3. Scan[/] {len(world.photo_codes)} boxes photographed in {photos}")
    with app.session() as session:
        known = catalog_products(session)
    result = scan_paths([photos], catalog_products=known)
    with app.session() as session:
        recorded = record_result(result, session=session, seizure_id=world.photo_seizure)
    expected = {code for code, _ in world.photo_codes}
    read = {box.code.removeprefix("]d2") for box in result.boxes}
    err.print(
        f"   {len(result.boxes)} boxes read ({len(read & expected)} of {len(expected)} photographed), "
        f"{len(result.unread)} region(s) seen but not read, {len(result.rejected)} read(s) not trusted; "
        f"{recorded.added} recorded on seizure {world.photo_seizure}"
    )


def _leads(app: AppContext, case_id: str) -> None:
    from rxtrace.trace.investigate import find_leads, save_leads

    err.print("[bold]5. Leads[/] across all sales, top 8")
    with app.session() as session:
        found = find_leads(session=session)
        save_leads(found, session=session)
    print_table(
        "Top leads",
        ("kind", "id", "name", "score", "rules"),
        [
            (
                lead.kind,
                lead.display_id(reveal=False),
                lead.name,
                f"{lead.score:.2f}",
                "; ".join(rule.rule for rule in lead.rules),
            )
            for lead in found[:8]
        ],
        caption=f"{len(found)} leads; `rxtrace leads --case {case_id}` for the case's own",
    )


def _maps(app: AppContext, case_id: str, folder: Path) -> dict[str, Path]:
    from rxtrace.geo.maps import build_map_data, write_html_map, write_png_map

    with app.session() as session:
        data = build_map_data(session=session, case_id=case_id)
    html = write_html_map(data, out=folder / "map.html")
    png = write_png_map(data, out=folder / "map.png")
    err.print(f"[bold]6. Maps[/] {html} (opens offline in any browser) and {png}")
    return {"Collection hotspots and courier routes": png}


def _dossier(app: AppContext, case_id: str, folder: Path, maps: dict[str, Path]) -> None:
    from rxtrace.api.dossier import write_report

    written = []
    with app.session() as session:
        for fmt in ("html", "pdf", "xlsx"):
            out = folder / f"dossier_{case_id}.{fmt}"
            write_report(case_id, session=session, fmt=fmt, out=out, maps=maps)
            written.append(str(out))
    err.print(f"[bold]7. Dossier[/] {', '.join(written)}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
