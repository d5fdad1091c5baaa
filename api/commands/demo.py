"""``rxtrace demo``: the main job end to end on a synthetic Shanghai world.

Generate the world as contract files, load them into the embedded database, scan photos of a
seizure's boxes, resolve the case, rank leads, draw the maps and write the dossier. Each later
step runs when its part of rxtrace is installed, and says where its output went.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import typer

from rxtrace.api.commands.common import app_context
from rxtrace.api.commands.resolve import print_resolution
from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext
from rxtrace.api.output import Format, err
from rxtrace.trace.demo import generate_world
from rxtrace.trace.load import load_paths
from rxtrace.trace.service import resolve_case

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
) -> None:
    """Build a demo world and run load, scan, resolve, leads, map and report on it."""
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

    steps = _optional_steps()
    for step in steps:
        step(app, world, folder)

    err.print(f"[bold]Resolve[/] case {world.case_id}")
    with app.session() as session:
        resolution = resolve_case(world.case_id, session=session)
    print_resolution(resolution, Format.table, reveal=False, top=5)
    for late in _late_steps():
        late(app, world, folder)
    err.print(f"Done in {time.monotonic() - started:.1f} s. Everything is in {folder}/.")
    err.print(
        f"Try: RXTRACE_DATABASE_URL={url} RXTRACE_KEY_FILE={folder.resolve() / 'secret.key'} "
        f"rxtrace resolve --case {world.case_id} --format json"
    )


def _optional_steps() -> list:  # type: ignore[type-arg]
    return []


def _late_steps() -> list:  # type: ignore[type-arg]
    return []


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
