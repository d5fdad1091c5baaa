"""Scan photos, folders, videos and live cameras into boxes, and decide which reads to trust.

Entry points: :func:`scan_paths` (files and folders, images and videos mixed),
:func:`scan_array` (pixels already in memory), :func:`scan_stream` (camera index or
RTSP/HTTP URL, with an optional live window).

**One box per code.** Reads of the same code, by two engines, two pre-processing variants,
many frames or several photos, are one box, reported once with its best sighting (most votes,
then largest polygon) and counts of frames and votes. The data contract counts a code read
twice in one case as one box.

**Confidence rule** (no false reads: a misread code would accuse a pharmacy of a sale it
never made). A read is a box only at ``high`` or ``medium``; ``low`` reads go to
:attr:`ScanResult.rejected` with the reason, for an officer to check by eye.

1. Code 128 digits that look like a national code (start with 8, 16-24 digits) but are not
   20 digits long: ``low``, a 20-digit code is never printed shorter or longer.
2. DataMatrix and QR: ``high`` (Reed-Solomon error correction makes a misread practically
   impossible).
3. A read at the same place as a different code in the same frame, with as many votes:
   ``low`` (one is a misread; with fewer votes it is dropped by the decoder already). A
   Code 128 or EAN-13 read once, by zbar alone: ``low`` (in the pile benchmark zbar accepted
   misreads of real national codes whose mod-103 check still passed; zxing-cpp did not).
4. Product identifier (first 7 digits of a national code; GTIN-14 of a GS1 string or an
   EAN-13) in the caller's ``catalog_products``: ``high``.
5. Read in two or more frames of a video or stream: ``high``.
6. A catalog was given and the product is not in it: ``low``.
7. Video or stream, one frame only, not in the catalog: ``low``.
8. Still photo, no catalog to check against: ``medium`` if two independent decodes (another
   engine or another pre-processing of the same region) agree, else ``low``. A photo has
   one frame, so this is its counterpart of rule 5.

A 20-digit national code must also be well-formed by :func:`rxtrace.trace.codes.parse_code`
to be a box at all (rule 1 catches the near misses before it).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

# mypy, run on this folder, cannot follow the editable install's import hook to the sibling
# package; at run time these are ordinary imports.
from rxtrace.trace.codes import parse_code
from rxtrace.trace.errors import ParseError

from .codes import is_national_code, product_id
from .decode import ECC_SYMBOLOGIES, Effort, FrameReads, decode_frame
from .models import (
    Confidence,
    Polygon,
    ScanError,
    ScanIssue,
    ScannedBox,
    ScanResult,
    SourceFile,
    SourceKind,
    UnreadRegion,
)
from .sources import (
    Frame,
    expand_paths,
    iter_stream,
    iter_video,
    read_image,
    sha256_file,
)

__all__ = [
    "DEFAULT_BUDGET_MS",
    "Progress",
    "decide_confidence",
    "display_available",
    "scan_array",
    "scan_paths",
    "scan_stream",
]

Progress = Callable[[int, int, str], None]
"""Called as ``progress(done, total, source)`` after each file (total = files to scan)."""

_MAX_UNREAD: Final = 200

DEFAULT_BUDGET_MS: Final = 80.0
"""A photo's time budget in milliseconds of one core, estimated from the pixels each step
handles (so the reads do not depend on the machine or its load): the cheap passes always
run, the expensive second tier (regions seen but not read) only while budget remains. 80 ms
keeps a 1080p photo of a pile within ~80 ms on one core; a single hard photo can be given
more."""


def _national_well_formed(code: str) -> bool:
    if not is_national_code(code):
        return False
    try:
        return bool(parse_code(code).family == "national")
    except ParseError:
        return False


def _catalog_keys(code: str) -> set[str]:
    """The identifiers under which a catalog may list the product of ``code``."""
    keys: set[str] = set()
    pid = product_id(code)
    if pid is not None:
        keys.add(pid)
        if len(pid) == 14:
            keys.add(pid[1:])  # a catalog may list the GTIN-13 of an EAN-13 box
    return keys


def decide_confidence(
    code: str,
    symbology: str,
    *,
    votes: int,
    frames_seen: int,
    conflict: bool,
    catalog_products: frozenset[str],
    moving: bool,
    zbar_only: bool = False,
) -> tuple[Confidence, str]:
    """The module docstring's rule, as ``(confidence, reason)``.

    ``votes`` counts independent decodes in the best frame, ``frames_seen`` distinct frames
    (or photos) the code was read in, ``moving`` says the source is a video or stream,
    ``zbar_only`` that no zxing-cpp decode supports the read.
    """
    near_national = (
        symbology == "code128" and code.isascii() and code.isdigit()
        and code.startswith("8") and 16 <= len(code) <= 24
    )  # fmt: skip
    if near_national and not _national_well_formed(code):
        return "low", "looks like a national code but is not 20 well-formed digits"
    if symbology in ECC_SYMBOLOGIES:
        return "high", "error-corrected symbology"
    if conflict:
        return "low", "another code was read at the same place"
    if zbar_only and votes < 2 and frames_seen < 2:
        return "low", "single zbar decode"
    keys = _catalog_keys(code)
    if keys & catalog_products:
        return "high", "product in catalog"
    if frames_seen >= 2:
        return "high", f"read in {frames_seen} frames or photos"
    if catalog_products and keys:
        return "low", "product not in catalog"
    if moving:
        return "low", "read in one frame only"
    if votes >= 2:
        return "medium", f"{votes} independent decodes agree"
    return "low", "single decode and no catalog to confirm it"


@dataclass
class _Track:
    """Everything seen of one code during a scan."""

    code: str
    symbology: str
    identifier: str
    source: str
    sha256: str | None
    frame: int | None
    polygon: Polygon
    engine: str
    votes: int
    area: float
    conflict_everywhere: bool
    best_conflict: bool
    moving: bool
    zbar_only: bool
    sightings: set[tuple[str, int | None]] = field(default_factory=set)


def _zbar_only(engines: tuple[str, ...]) -> bool:
    # The model-fitting Code 128 reader is not zbar: its reads go by the general rule.
    return all(e.startswith("pyzbar/") for e in engines)


def _area(polygon: Polygon) -> float:
    if len(polygon) < 3:
        return 0.0
    pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return float(cv2.contourArea(cv2.convexHull(pts)))


class _Collector:
    """Folds per-frame reads into one track per code, then into a ScanResult."""

    def __init__(self, catalog_products: frozenset[str]) -> None:
        self.catalog = catalog_products
        self.tracks: dict[str, _Track] = {}
        self.unread: list[UnreadRegion] = []
        self.files: list[SourceFile] = []
        self.errors: list[ScanIssue] = []
        self.frames = 0
        self.lock = threading.Lock()

    def add(
        self,
        reads: FrameReads,
        source: str,
        sha256: str | None,
        frame: int | None,
        moving: bool,
    ) -> None:
        with self.lock:
            self.frames += 1
            for s in reads.sightings:
                area = _area(s.polygon)
                track = self.tracks.get(s.code)
                if track is None:
                    track = _Track(s.code, s.symbology, s.symbology_identifier, source, sha256,
                                   frame, s.polygon, s.engines[0], s.votes, area, s.conflict,
                                   s.conflict, moving, _zbar_only(s.engines))  # fmt: skip
                    self.tracks[s.code] = track
                else:
                    track.conflict_everywhere = track.conflict_everywhere and s.conflict
                    track.moving = track.moving or moving
                    track.zbar_only = track.zbar_only and _zbar_only(s.engines)
                    # Best sighting: clean before conflicting, then most votes, then the
                    # largest outline (closest to the camera, sharpest evidence).
                    mine = (not s.conflict, s.votes, area)
                    if mine > (not track.best_conflict, track.votes, track.area):
                        track.source, track.sha256, track.frame = source, sha256, frame
                        track.polygon, track.engine = s.polygon, s.engines[0]
                        track.votes, track.area = s.votes, area
                        track.best_conflict = s.conflict
                track.sightings.add((source, frame))
            read_here = [s.polygon for s in reads.sightings]
            for u in reads.unread:
                if len(self.unread) >= _MAX_UNREAD:
                    break
                # In a video the same unread symbol shows in many frames; once per source
                # and place is enough for an officer to find it.
                if moving and any(r.source == source and _near(r.polygon, u.polygon) for r in self.unread):
                    continue
                if any(_near(p, u.polygon) for p in read_here):
                    continue
                self.unread.append(UnreadRegion(source, frame, u.polygon, u.symbology_hint,
                                                u.reason))  # fmt: skip

    def result(self) -> ScanResult:
        boxes: list[ScannedBox] = []
        rejected: list[ScannedBox] = []
        for t in self.tracks.values():
            frames_seen = len(t.sightings)
            confidence, reason = decide_confidence(
                t.code, t.symbology, votes=t.votes, frames_seen=frames_seen,
                conflict=t.conflict_everywhere, catalog_products=self.catalog, moving=t.moving,
                zbar_only=t.zbar_only,
            )  # fmt: skip
            box = ScannedBox(
                code=t.code, symbology=t.symbology, source=t.source, frame=t.frame,
                polygon=t.polygon, confidence=confidence, engine=t.engine,
                source_sha256=t.sha256, symbology_identifier=t.identifier,
                frames_seen=frames_seen, votes=t.votes, reason=reason,
            )  # fmt: skip
            (rejected if confidence == "low" else boxes).append(box)
        order = {"high": 0, "medium": 1, "low": 2}
        boxes.sort(key=lambda b: (b.source, b.frame or 0, order[b.confidence], b.code))
        rejected.sort(key=lambda b: (b.source, b.frame or 0, b.code))
        unread = [u for u in self.unread if not self._explained(u)]
        return ScanResult(tuple(boxes), tuple(unread), tuple(rejected), tuple(self.files),
                          self.frames, tuple(self.errors))  # fmt: skip

    def _explained(self, u: UnreadRegion) -> bool:
        """An unread spot where, in the same frame, a box was eventually read is not unread."""
        return any(
            (t.source, t.frame) == (u.source, u.frame) and _near(t.polygon, u.polygon)
            for t in self.tracks.values()
        )


def _near(a: Polygon, b: Polygon) -> bool:
    if not a or not b:
        return False
    pa = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    pb = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    ca, cb = pa.mean(axis=0), pb.mean(axis=0)
    reach = max(float(np.ptp(pa, axis=0).max()), float(np.ptp(pb, axis=0).max()), 24.0) / 2
    return float(np.hypot(*(ca - cb))) <= reach


def scan_array(
    image: npt.NDArray[np.uint8],
    *,
    source: str = "<array>",
    catalog_products: frozenset[str] = frozenset(),
    effort: Effort = "full",
    budget_ms: float | None = DEFAULT_BUDGET_MS,
) -> ScanResult:
    """Scan one picture already in memory (gray, BGR or BGRA).

    ``budget_ms`` bounds the expensive second tier (see :func:`decode_frame`); None lifts it.
    """
    collector = _Collector(catalog_products)
    reads = decode_frame(image, effort=effort, budget_ms=budget_ms)
    collector.add(reads, source, None, None, moving=False)
    collector.files.append(SourceFile(source, "image", None, 1))
    return collector.result()


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def scan_paths(
    paths: Iterable[str | Path],
    *,
    catalog_products: frozenset[str] = frozenset(),
    progress: Progress | None = None,
    workers: int | None = None,
    video_step: int = 1,
    effort: Effort = "full",
    video_effort: Effort = "fast",
    budget_ms: float | None = DEFAULT_BUDGET_MS,
) -> ScanResult:
    """Scan image and video files and folders (recursively).

    A file that cannot be read (corrupt, truncated, not an image, too large) is recorded in
    :attr:`ScanResult.errors` and the batch goes on. Images are decoded ``workers`` at a time
    (default: the number of CPUs, at most 4); a video's frames are streamed, with at most
    ``2 × workers`` frames in memory. ``video_step`` scans every n-th frame of videos;
    ``video_effort`` is ``fast`` by default since the next frames give a symbol more chances.
    ``budget_ms`` is each photo's time budget (see :func:`decode_frame`; None lifts it).
    """
    files, missing = expand_paths(paths)
    collector = _Collector(catalog_products)
    for name, message in missing:
        collector.errors.append(ScanIssue(name, message))
    n_workers = workers or _default_workers()
    total = len(files)
    done = 0

    def tick(source: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, source)

    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        images = [f for f in files if f.kind == "image"]
        videos = [f for f in files if f.kind == "video"]

        def scan_image(path: Path) -> None:
            name = str(path)
            try:
                pixels, digest, size = read_image(path)
            except ScanError as exc:
                with collector.lock:
                    collector.errors.append(ScanIssue(name, str(exc)))
                return
            reads = decode_frame(pixels, effort=effort, budget_ms=budget_ms)
            del pixels
            collector.add(reads, name, digest, None, moving=False)
            with collector.lock:
                collector.files.append(SourceFile(name, "image", digest, 1, size))

        # Bounded submission keeps at most 2 × workers decoded images in memory.
        pending: deque[tuple[Path, Future[None]]] = deque()
        for f in images:
            pending.append((f.path, pool.submit(scan_image, f.path)))
            while len(pending) >= 2 * n_workers:
                path, fut = pending.popleft()
                fut.result()
                tick(str(path))
        while pending:
            path, fut = pending.popleft()
            fut.result()
            tick(str(path))

        for f in videos:
            name = str(f.path)
            try:
                digest = sha256_file(f.path)
                frames = _scan_frames(iter_video(f.path, step=video_step), pool, n_workers,
                                      collector, name, digest, video_effort)  # fmt: skip
            except ScanError as exc:
                collector.errors.append(ScanIssue(name, str(exc)))
            else:
                size = f.path.stat().st_size
                collector.files.append(SourceFile(name, "video", digest, frames, size))
            tick(name)
    collector.files.sort(key=lambda s: s.source)
    collector.errors.sort(key=lambda e: e.source)
    return collector.result()


def _scan_frames(
    frames: Iterator[Frame],
    pool: Executor,
    n_workers: int,
    collector: _Collector,
    name: str,
    digest: str | None,
    effort: Effort,
    on_frame: Callable[[Frame, FrameReads], bool] | None = None,
) -> int:
    """Decode frames on ``pool`` in order, at most ``2 × n_workers`` in flight."""
    pending: deque[tuple[Frame, Future[FrameReads]]] = deque()
    count = 0
    stop = False

    def drain_one() -> None:
        nonlocal stop
        frame, fut = pending.popleft()
        reads = fut.result()
        collector.add(reads, name, digest, frame.index, moving=True)
        if on_frame is not None and not on_frame(frame, reads):
            stop = True

    for frame in frames:
        pending.append((frame, pool.submit(decode_frame, frame.pixels, effort=effort)))
        count += 1
        while len(pending) >= 2 * n_workers:
            drain_one()
        if stop:
            break
    while pending:
        drain_one()
    return count


_display_checked: bool | None = None


def display_available() -> bool:
    """True if a window can be shown: a display server is set and OpenCV has a GUI backend."""
    global _display_checked
    if _display_checked is None:
        has_server = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        gui = "GUI:" in cv2.getBuildInformation() and "NONE" not in _gui_line()
        _display_checked = has_server and gui
    return _display_checked


def _gui_line() -> str:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.upper()
    return "GUI: NONE"


def _draw(frame: Frame, reads: FrameReads) -> npt.NDArray[np.uint8]:
    canvas = frame.pixels.copy()
    if canvas.ndim == 2:
        canvas = np.asarray(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    for u in reads.unread:
        cv2.polylines(canvas, [np.asarray(u.polygon, np.int32)], True, (0, 0, 255), 2)
    for s in reads.sightings:
        pts = np.asarray(s.polygon, np.int32)
        cv2.polylines(canvas, [pts], True, (0, 200, 0), 3)
        x, y = (int(v) for v in pts.min(axis=0))
        label = s.code.replace("\x1d", "|")[:40]
        cv2.putText(canvas, label, (x, max(16, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (0, 200, 0), 2)  # fmt: skip
    return np.asarray(canvas, dtype=np.uint8)


def scan_stream(
    source: int | str,
    *,
    catalog_products: frozenset[str] = frozenset(),
    display: bool | None = None,
    max_frames: int | None = None,
    step: int = 1,
    workers: int | None = None,
    on_frame: Callable[[int, FrameReads], None] | None = None,
) -> ScanResult:
    """Scan a live camera (index) or RTSP/HTTP stream until it ends, ``max_frames``, or the
    user presses q/Esc in the window.

    ``display=None`` shows a window (outlines: green read, red seen-but-unread) only when
    :func:`display_available`; ``True`` without a display raises ScanError. ``on_frame`` is
    called with each frame's reads, e.g. to push boxes to a web page as they appear.
    """
    show = display_available() if display is None else display
    if show and not display_available():
        raise ScanError("Cannot show the scan window: no display (DISPLAY unset) or no GUI.")
    collector = _Collector(catalog_products)
    n_workers = workers or _default_workers()
    name = str(source)
    window = f"rxtrace scan {name}"

    def frame_done(frame: Frame, reads: FrameReads) -> bool:
        if on_frame is not None:
            on_frame(frame.index, reads)
        if show:
            cv2.imshow(window, _draw(frame, reads))
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                return False
        return True

    try:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            frames = _scan_frames(iter_stream(source, step=step, max_frames=max_frames), pool,
                                  n_workers, collector, name, None, "fast",
                                  frame_done)  # fmt: skip
    except ScanError as exc:
        collector.errors.append(ScanIssue(name, str(exc)))
        frames = 0
    finally:
        if show:
            cv2.destroyWindow(window)
    kind: SourceKind = "stream"
    collector.files.append(SourceFile(name, kind, None, frames))
    return collector.result()
