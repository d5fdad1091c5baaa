"""``rxtrace scan``: photos, videos or a live camera of a seizure's boxes, to boxes on the seizure."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import TaskID

from rxtrace.api import persons
from rxtrace.api.commands.common import FormatOption, app_context, audit_shown, progress_bar
from rxtrace.api.commands.resolve import print_resolution
from rxtrace.api.output import Format, err, print_csv, print_json, print_table
from rxtrace.api.scanning import catalog_products, record_result
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.resolve.scans import RecordedScan, open_seizure, require_seizure
from rxtrace.trace.resolve.service import resolve_seizure

__all__ = ["register"]


def scan(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="Image or video files, or folders of them."),
    seizure: str = typer.Option(..., "--seizure", help="The seizure the boxes belong to (it must exist)."),
    new_seizure: bool = typer.Option(
        False,
        "--new-seizure",
        help="Open --seizure here, before its seizures file is loaded (needs --case); "
        "a loaded row with its id later replaces it.",
    ),
    case: str | None = typer.Option(None, "--case", help="The case a --new-seizure belongs to."),
    camera: int | None = typer.Option(None, "--camera", help="Read a live camera by its index."),
    url: str | None = typer.Option(None, "--url", help="Read a live RTSP or HTTP stream."),
    max_frames: int | None = typer.Option(
        None, "--max-frames", min=1, help="Stop a live read after N frames."
    ),
    display: bool | None = typer.Option(
        None,
        "--display/--headless",
        help="Show the live frame with outlines (default: when a display exists).",
    ),
    output: Format = FormatOption(),
    resolve: bool = typer.Option(False, "--resolve", help="Resolve the seizure's boxes afterwards."),
    budget_ms: str = typer.Option(
        "80",
        "--budget-ms",
        metavar="MS",
        help="Time for each photo, in milliseconds of one core (estimated from the pixels "
        "handled, so the same photo gives the same reads on any machine): the cheap passes "
        "always run, the expensive ones on regions seen but not read while time remains. "
        "Give a hard photo more; 0 runs the cheap passes only.",
    ),
) -> None:
    """Read every code off photos, videos or a camera and record the boxes on a seizure."""
    budget = _budget(budget_ms)
    live = [x for x in (camera, url) if x is not None]
    if len(live) + (1 if paths else 0) != 1:
        raise RxtraceError("Give files or folders, or exactly one of --camera N and --url URL.")
    if new_seizure and not case:
        raise RxtraceError("--new-seizure needs --case: the case the seizure belongs to.")
    if case and not new_seizure:
        raise RxtraceError("--case goes with --new-seizure; an existing seizure has its case.")
    missing = [str(p) for p in paths or () if not p.exists()]
    if missing:  # checked before anything is opened or recorded
        raise RxtraceError(f"No such file or folder: {', '.join(missing)}.")
    app = app_context(ctx)
    started = time.monotonic()
    with app.session() as session:
        # Before any scanning: a mistyped id stops here, not after minutes of video.
        if new_seizure:
            open_seizure(seizure, case_id=str(case), session=session)
            session.commit()
            err.print(f"Opened seizure '{seizure}' in case '{case}' (provisional until its row is loaded).")
        else:
            require_seizure(seizure, session=session)
        known = catalog_products(session)
    result = _read(paths, camera, url, known=known, display=display, max_frames=max_frames,
                   budget_ms=budget)  # fmt: skip
    if result.frames == 0 and len(result.errors) == 1:  # nothing to record or show: one line
        raise RxtraceError(f"No input could be scanned: {result.errors[0].message}")
    for issue in result.errors:
        err.print(f"error: {issue.message}", markup=False, highlight=False)
    if result.frames == 0 and result.errors:
        raise RxtraceError(f"No input could be scanned: all {len(result.errors)} failed (above).")
    with app.session() as session:
        recorded = record_result(result, session=session, seizure_id=seizure)
        resolution = resolve_seizure(seizure, session=session) if resolve else None
        if resolution is not None:
            audit_shown(
                session,
                command="scan",
                params={"seizure": seizure, "resolve": True},
                persons=persons.in_resolution(resolution),
                revealed=app.settings.show_sensitive,
            )
    elapsed = time.monotonic() - started
    _print(result, recorded, output, elapsed)
    if resolution is not None and output is not Format.json:
        print_resolution(resolution, output, reveal=app.settings.show_sensitive)
    if output is Format.json:
        document = result.as_dict()
        document["recorded"] = vars(recorded)
        if resolution is not None:
            document["resolution"] = resolution.to_dict(reveal=app.settings.show_sensitive)
        print_json(document)


def _read(
    paths: list[Path] | None,
    camera: int | None,
    url: str | None,
    *,
    known: frozenset[str],
    display: bool | None,
    max_frames: int | None,
    budget_ms: float,
) -> Any:
    """Scan the files and folders with a progress bar, or the live camera or stream."""
    from rxtrace.scanners.service import scan_paths, scan_stream

    if paths:
        with progress_bar(counting="items") as bar:
            task: dict[str, TaskID] = {}

            def tick(done: int, total: int, source: str) -> None:
                if "t" not in task:
                    task["t"] = bar.add_task("scanning", total=total)
                bar.update(task["t"], completed=done, description=Path(source).name)

            return scan_paths(paths, catalog_products=known, progress=tick, budget_ms=budget_ms)
    source: int | str = camera if camera is not None else str(url)
    err.print(f"Reading {source}; press q in the window or Ctrl-C to stop.")
    return scan_stream(source, catalog_products=known, display=display, max_frames=max_frames)


def _budget(text: str) -> float:
    """``--budget-ms`` as milliseconds; a typo is one clear line, not a traceback or a box."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    # Past an hour a budget is a mistake (and inf or nan would never let a scan end).
    if not 0 <= value <= 3_600_000:
        raise RxtraceError(f"--budget-ms takes milliseconds from 0 to 3600000, not {text!r}.")
    return value


def _print(result: Any, recorded: RecordedScan, output: Format, elapsed: float) -> None:
    if output is Format.json:
        return
    if output is Format.csv:
        print_csv(
            ("code", "symbology", "confidence", "source", "frame", "polygon", "why"),
            [
                (b.code, b.symbology, b.confidence, b.source, b.frame, list(b.polygon), b.reason)
                for b in result.boxes
            ],
        )
        return
    print_table(
        f"Boxes read for seizure {recorded.seizure_id}",
        ("code", "symbology", "confidence", "source", "frame", "why"),
        [
            (
                b.code.replace("\x1d", "<GS>"),
                b.symbology,
                b.confidence,
                Path(b.source).name,
                b.frame,
                b.reason,
            )
            for b in result.boxes
        ],
        caption=(
            f"{len(result.files)} file(s), {result.frames} frame(s), {len(result.boxes)} box(es), "
            f"{len(result.unread)} region(s) seen but not read, {len(result.rejected)} read(s) not trusted, "
            f"{len(result.errors)} error(s); {recorded.added} new on the seizure, "
            f"{recorded.already_recorded} already recorded; {elapsed:.1f} s"
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
