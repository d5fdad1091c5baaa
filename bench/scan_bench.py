"""Scanner benchmark: rxtrace's scanner beside raw zxing-cpp and raw pyzbar, same run.

Usage (from the repository root)::

    .venv/bin/python bench/scan_bench.py [--quick] [--sets harsh,video] [--harsh N] [--write]

1. Corpus: zxing-cpp's public sample images (``../shared/corpus/zxing-samples``), each
   compared with its ``NAME.txt`` after escaping non-graphical characters the way zxing-cpp's
   ``TextMode::Escaped`` does (``<GS>``, ``<LF>``...). Images with only a ``.bin`` expected
   result are skipped. "Decoder" recall counts what the decoder read; the scanner's trust rule
   is measured on the pile set, where the catalog is known.
2. Piles (the older, easier set): rendered 1920×1080 photos of 8 labels each, ``harsh`` damage (see
   :mod:`rxtrace.scanners.render`). rxtrace boxes are counted with the unit's catalog
   (the product identifiers of the rendered codes plus unrelated ones) and without one.
3. Harsh phone photos (issue 15): :mod:`rxtrace.scanners.harsh`, 300 seeded JPEGs written to
   a temporary folder and read back as files; every code carries its own damages, and
   recall is reported per damage, per damage alone and per symbology, rxtrace with and
   without a catalog beside raw zxing-cpp and raw pyzbar. rxtrace's time is measured on the
   1920×1080 photos.
4. Video: a rendered 1280×720 clip of boxes passing the camera, scanned as a file.

``--sets harsh`` (any of corpus, piles, harsh, video) runs only some of them while iterating.

``--write`` replaces the ``## Scanning`` section of ``bench/RESULTS.md`` with the results.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar

from rxtrace.scanners import DEFAULT_BUDGET_MS, ScanError, scan_array, scan_paths
from rxtrace.scanners.codes import product_id
from rxtrace.scanners.decode import decode_frame, to_gray
from rxtrace.scanners.harsh import DAMAGES, harsh_set
from rxtrace.scanners.render import random_codes, render_pile, write_video
from rxtrace.scanners.sources import read_image

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "zxing-samples"
SYMBOLOGIES = ("code128", "datamatrix", "ean13", "qrcode")
Z = zxingcpp.BarcodeFormat
ZX_FORMATS = zxingcpp.BarcodeFormats([Z.Code128, Z.DataMatrix, Z.QRCode, Z.EAN13])
ZX_NAMES = {Z.Code128: "code128", Z.DataMatrix: "datamatrix", Z.QRCode: "qrcode", Z.EAN13: "ean13"}
ZBAR = [pyzbar.ZBarSymbol.CODE128, pyzbar.ZBarSymbol.EAN13, pyzbar.ZBarSymbol.QRCODE]
ZBAR_NAMES = {"CODE128": "code128", "EAN13": "ean13", "QRCODE": "qrcode"}

_ASCII_NAMES = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
    "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB",
    "ESC", "FS", "GS", "RS", "US",
)  # fmt: skip

SKIPPED: list[str] = []
MISMATCHES: list[tuple[str, str, str]] = []

Reader = Callable[[npt.NDArray[np.uint8]], list[tuple[str, str]]]


def escape(text: str) -> str:
    """Non-graphical characters as zxing-cpp's TextMode::Escaped writes them."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 32:
            out.append(f"<{_ASCII_NAMES[code]}>")
        elif code == 127:
            out.append("<DEL>")
        elif not ch.isprintable() and ch != " ":
            out.append(f"<U+{code:04X}>")
        else:
            out.append(ch)
    return "".join(out)


def strip_identifier(code: str) -> str:
    """The corpus stores GS1 data without its symbology identifier."""
    return code[3:] if code[:3] in ("]d2", "]Q3", "]C1") else code


def read_rxtrace(image: npt.NDArray[np.uint8]) -> list[tuple[str, str]]:
    return [(s.symbology, s.code) for s in decode_frame(image, budget_ms=DEFAULT_BUDGET_MS).sightings]


def read_zxing(image: npt.NDArray[np.uint8]) -> list[tuple[str, str]]:
    out = []
    for b in zxingcpp.read_barcodes(image, formats=ZX_FORMATS, text_mode=zxingcpp.TextMode.Plain):
        gs1 = b.content_type == zxingcpp.ContentType.GS1
        out.append((ZX_NAMES[b.format], b.symbology_identifier + b.text if gs1 else b.text))
    return out


def read_pyzbar(image: npt.NDArray[np.uint8]) -> list[tuple[str, str]]:
    out = []
    for d in pyzbar.decode(image, symbols=ZBAR):
        out.append((ZBAR_NAMES.get(d.type, d.type), d.data.decode("utf-8", errors="replace")))
    return out


READERS: dict[str, Reader] = {"rxtrace": read_rxtrace, "zxing-cpp": read_zxing,
                              "pyzbar": read_pyzbar}  # fmt: skip


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {model}, Python {platform.python_version()}"


# --------------------------------------------------------------------------- corpus


def corpus_cases(quick: bool) -> list[tuple[str, Path, str]]:
    cases = []
    for sym in SYMBOLOGIES:
        folder = CORPUS / sym
        if not folder.is_dir():
            continue
        images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg",
                                                                               ".webp"))  # fmt: skip
        if quick:
            images = images[::3]
        for img in images:
            txt = img.with_suffix(".txt")
            if txt.exists():
                expected = txt.read_bytes().decode("utf-8", errors="replace")
                # One sample's expected file only says "<unkown>": no reader can match it.
                if expected.strip() in ("<unkown>", "<unknown>"):
                    SKIPPED.append(str(img.relative_to(CORPUS)))
                    continue
                cases.append((sym, img, expected))
    return cases


def bench_corpus(quick: bool) -> dict[str, dict[str, tuple[int, int, int, float]]]:
    """Per reader and symbology: (hits, images, false reads, median ms)."""
    results: dict[str, dict[str, tuple[int, int, int, float]]] = {}
    cases = corpus_cases(quick)
    loaded = []
    for sym, path, expected in cases:
        try:
            pixels, _, _ = read_image(path)
        except ScanError as exc:
            print(f"  skip {path.name}: {exc}", file=sys.stderr)
            continue
        loaded.append((sym, to_gray(pixels), escape(expected), str(path.relative_to(CORPUS))))
    for name, reader in READERS.items():
        hits: Counter[str] = Counter()
        total: Counter[str] = Counter()
        false: Counter[str] = Counter()
        times: defaultdict[str, list[float]] = defaultdict(list)
        for sym, gray, expected, rel in loaded:
            t0 = time.perf_counter()
            reads = reader(gray)
            times[sym].append(1000 * (time.perf_counter() - t0))
            texts = {escape(strip_identifier(code)) for s, code in reads if s == sym}
            total[sym] += 1
            hits[sym] += expected in texts
            false[sym] += len(texts - {expected})
            if name == "rxtrace":
                MISMATCHES.extend((rel, expected, t) for t in sorted(texts - {expected}))
        results[name] = {s: (hits[s], total[s], false[s], statistics.median(times[s]))
                         for s in total}  # fmt: skip
    return results


# --------------------------------------------------------------------------- piles


def pile_set(n: int) -> list[tuple[npt.NDArray[np.uint8], list[tuple[str, str]]]]:
    rng = np.random.default_rng(2024)
    out = []
    for seed in range(n):
        codes = random_codes(rng, 8, ("code128", "datamatrix", "code128", "ean13", "qrcode"))
        image, _ = render_pile(codes, seed=1000 + seed, damage="harsh")
        out.append((image, codes))
    return out


def bench_piles(n: int) -> dict[str, object]:
    piles = pile_set(n)
    truth_total: Counter[str] = Counter()
    for _, codes in piles:
        for _, sym in codes:
            truth_total[sym] += 1
    catalog = frozenset(
        {p for _, codes in piles for c, _ in codes if (p := product_id(c)) is not None}
        | {"8000001", "8123456", "06900000000017"}
    )
    rows: dict[str, tuple[Counter[str], int, list[float], list[float]]] = {}

    def run(name: str, fn: Callable[[npt.NDArray[np.uint8]], set[str]]) -> None:
        hits: Counter[str] = Counter()
        false = 0
        wall: list[float] = []
        cpu: list[float] = []
        for image, codes in piles:
            gray = image
            w0, c0 = time.perf_counter(), time.process_time()
            got = fn(gray)
            wall.append(1000 * (time.perf_counter() - w0))
            cpu.append(1000 * (time.process_time() - c0))
            truth = dict(codes)
            for code in got:
                if code in truth:
                    hits[truth[code]] += 1
                else:
                    false += 1
        rows[name] = (hits, false, wall, cpu)

    run("rxtrace boxes, catalog", lambda im: {b.code for b in scan_array(im, catalog_products=catalog).boxes})
    run("rxtrace boxes, no catalog", lambda im: {b.code for b in scan_array(im).boxes})
    run("rxtrace decoder", lambda im: {c for _, c in read_rxtrace(im)})
    with ThreadPoolExecutor(max_workers=2) as in_frame:
        run(
            "rxtrace decoder, 2 threads in-frame",
            lambda im: {
                s.code for s in decode_frame(im, executor=in_frame, budget_ms=DEFAULT_BUDGET_MS).sightings
            },
        )
    run("zxing-cpp", lambda im: {c for _, c in read_zxing(im)})
    # zbar reports GS1 QR data without its ]Q3 (and FNC1 as nothing): match it leniently,
    # or its false-read count would be the normalisation's, not zbar's.
    gs1_plain = {c[3:].replace("\x1d", ""): c for _, codes in piles for c, _ in codes
                 if c[:3] in ("]d2", "]Q3", "]C1")}  # fmt: skip
    run("pyzbar", lambda im: {gs1_plain.get(c.replace("\x1d", ""), c)
                              for _, c in read_pyzbar(to_gray(im))})  # fmt: skip

    # Throughput on every core: images decoded concurrently, as scan_paths does.
    images = [im for im, _ in piles]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        t0 = time.perf_counter()
        list(pool.map(decode_frame, images))
        parallel_ms = 1000 * (time.perf_counter() - t0) / len(images)
    return {"rows": rows, "truth": truth_total, "n": n, "parallel_ms": parallel_ms}


# --------------------------------------------------------------------------- harsh photos


HarshRow = tuple[Counter[str], Counter[str], Counter[str], int, list[float], list[float]]
"""Hits per damage, per damage alone, per symbology; false reads; wall ms; CPU ms (1080p)."""


def bench_harsh(n: int, seed: int = 15) -> dict[str, object]:
    """The harsh phone-photo corpus (:mod:`rxtrace.scanners.harsh`), written as JPEG files to
    a temporary folder and read back as a user's photos are, per damage and symbology. Seed 15
    is the set the readers' bounds were chosen on; another seed is a set they have not seen."""
    photos = harsh_set(n, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = []
        for p in photos:
            path = Path(tmp) / p.name
            path.write_bytes(p.jpeg)
            pixels, _, _ = read_image(path)
            loaded.append((pixels, p))
    truth_dmg: Counter[str] = Counter()
    truth_alone: Counter[str] = Counter()
    truth_sym: Counter[str] = Counter()
    for _, p in loaded:
        for c in p.codes:
            truth_sym[c.symbology] += 1
            truth_dmg.update(c.damages)
            if len(c.damages) == 1:
                truth_alone[c.damages[0]] += 1
    catalog = frozenset(
        {pid for _, p in loaded for c in p.codes if (pid := product_id(c.code)) is not None}
        | {"8000001", "8123456", "06900000000017"}
    )
    gs1_plain = {c.code[3:].replace("\x1d", ""): c.code for _, p in loaded for c in p.codes
                 if c.code[:3] in ("]d2", "]Q3", "]C1")}  # fmt: skip
    readers: dict[str, Callable[[npt.NDArray[np.uint8]], set[str]]] = {
        "rxtrace boxes, catalog": lambda im: {
            b.code for b in scan_array(im, catalog_products=catalog).boxes},
        "rxtrace boxes, no catalog": lambda im: {b.code for b in scan_array(im).boxes},
        # What the default budget leaves on the table: the second tier run to its end.
        "rxtrace boxes, catalog, no budget": lambda im: {
            b.code for b in scan_array(im, catalog_products=catalog, budget_ms=None).boxes},
        "zxing-cpp": lambda im: {c for _, c in read_zxing(im)},
        "pyzbar": lambda im: {gs1_plain.get(c.replace("\x1d", ""), c)
                              for _, c in read_pyzbar(to_gray(im))},
    }  # fmt: skip
    rows: dict[str, HarshRow] = {}
    for name, fn in readers.items():
        dmg: Counter[str] = Counter()
        alone: Counter[str] = Counter()
        sym: Counter[str] = Counter()
        false = 0
        wall: list[float] = []
        cpu: list[float] = []
        for image, p in loaded:
            w0, c0 = time.perf_counter(), time.process_time()
            got = fn(image)
            if p.size == (1920, 1080):
                wall.append(1000 * (time.perf_counter() - w0))
                cpu.append(1000 * (time.process_time() - c0))
            truth = {c.code: c for c in p.codes}
            for code in got:
                hit = truth.get(code)
                if hit is None:
                    false += 1
                    continue
                sym[hit.symbology] += 1
                dmg.update(hit.damages)
                if len(hit.damages) == 1:
                    alone[hit.damages[0]] += 1
        rows[name] = (dmg, alone, sym, false, wall, cpu)
    return {"rows": rows, "truth_dmg": truth_dmg, "truth_alone": truth_alone,
            "truth_sym": truth_sym, "n": n, "codes": sum(truth_sym.values())}  # fmt: skip


def harsh_report(harsh: dict[str, object]) -> list[str]:
    rows = harsh["rows"]
    t_dmg, t_alone, t_sym = harsh["truth_dmg"], harsh["truth_alone"], harsh["truth_sym"]
    assert isinstance(rows, dict) and isinstance(t_dmg, Counter)
    assert isinstance(t_alone, Counter) and isinstance(t_sym, Counter)
    n_codes = sum(t_sym.values())
    syms = [s for s in SYMBOLOGIES if t_sym[s]]
    lines = [f"### Harsh phone photos ({harsh['n']} JPEGs 1280×720 to 1920×1080, {n_codes} codes, "
             "`rxtrace.scanners.harsh`, seed 15)", "",
             "Each code carries its own damages (most 2-4 at once; see the module's list). "
             "Recall per damage counts every code carrying it, whatever else it carries; "
             "times are the median over the 1920×1080 photos (CPU: this process, all its "
             "threads). rxtrace runs at the default budget (80 ms of one core, estimated "
             "from the pixels handled) unless the row says otherwise.", "",
             "| reader | " + " | ".join(syms) + " | all | false reads | median ms 1080p (wall) "
             "| median ms 1080p (CPU) |",
             "|---|" + "---|" * (len(syms) + 4)]  # fmt: skip
    for name, (_dmg, _alone, sym, false, wall, cpu) in rows.items():
        cells = [f"{sym[s] / t_sym[s]:.3f}" for s in syms]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | **{sum(sym.values()) / n_codes:.3f}** "
                     f"| {false} | {statistics.median(wall) if wall else 0:.0f} "
                     f"| {statistics.median(cpu) if cpu else 0:.0f} |")  # fmt: skip
    lines += ["", "| damage (codes carrying it) | " + " | ".join(rows) + " |",
              "|---|" + "---|" * len(rows)]  # fmt: skip
    for d in DAMAGES:
        if not t_dmg[d]:
            continue
        cells = [f"{r[0][d] / t_dmg[d]:.3f}" for r in rows.values()]
        lines.append(f"| {d} ({t_dmg[d]}) | " + " | ".join(cells) + " |")
    lines += ["", "| damage alone (codes carrying only it) | " + " | ".join(rows) + " |",
              "|---|" + "---|" * len(rows)]  # fmt: skip
    for d in DAMAGES:
        if not t_alone[d]:
            continue
        cells = [f"{r[1][d]}/{t_alone[d]}" for r in rows.values()]
        lines.append(f"| {d} ({t_alone[d]}) | " + " | ".join(cells) + " |")
    lines += ["", BEFORE_ISSUE_15, "", BEFORE_MODEL, ""]
    return lines


# The decoder before issue 15's work (commit 2560f92: one tier, no budget), measured by this
# bench on the same 300 photos (2026-12-04, same machine): the tables' baseline. Re-measure
# from that commit if the corpus generator ever changes.
BEFORE_ISSUE_15 = (
    "Before issue 15's work (decoder of commit 2560f92, same 300 photos): rxtrace boxes with "
    "catalog **0.538** (Code 128 0.549, DataMatrix 0.513, QR 0.549), 0 false, median 20 ms "
    "CPU; per damage: blur 0.362, motion 0.327, noise 0.577, small 0.291, contrast 0.455, "
    "perspective 0.469, rotation 0.557, light 0.433, jpeg 0.635, single 0.718."
)


# The decoder before the model-fitting Code 128 reader (commit 9590273), same 300 photos,
# 80 ms budget (2026-12-04, this bench): what that reader added.
BEFORE_MODEL = (
    "Before the model-fitting Code 128 reader (`rxtrace.scanners.code128`; decoder of commit "
    "9590273, same photos, 80 ms): rxtrace boxes with catalog **0.611** (Code 128 0.621, "
    "DataMatrix 0.582, QR 0.632), no catalog 0.597, no budget 0.614, 0 false, median 55 ms "
    "CPU; per damage: blur 0.430, motion 0.436, noise 0.652, small 0.361, contrast 0.512, "
    "perspective 0.545, rotation 0.631, light 0.493, jpeg 0.691, single 0.846. Its reads are "
    "20-digit national codes only, trusted like any single decode (a catalog entry, a second "
    "decode or frame); the budget it takes costs DataMatrix 0.006 and one motion-alone code, "
    "and on the older piles the second votes it defers leave the no-catalog row at 0.746 "
    "(0.754 before; with a catalog 0.775 -> 0.787). Out of sample (its bounds were set on "
    "seed 15): seeds 16 and 17, 80 photos each, 503 codes, 0 false boxes with a catalog; "
    "seeds 18 and 19 without a budget, 17 reads of it, none wrong. A held-out set measured the "
    "session after (`.venv/bin/python bench/scan_bench.py --sets harsh --harsh 160 --seed 16`, "
    "160 photos, 517 codes, load average 3): rxtrace boxes with catalog **0.679** (Code 128 "
    "0.707, DataMatrix 0.672, QR 0.615), no catalog 0.634, no budget 0.687, **0 false boxes**, "
    "median 51 ms CPU per 1080p photo; raw zxing-cpp 0.439, pyzbar 0.238; every damage above raw "
    "zxing-cpp (blur 0.536 against 0.268, motion 0.568 against 0.356, noise 0.696 against "
    "0.541): the gain holds on photos the bounds were not chosen on."
)


# --------------------------------------------------------------------------- video


def bench_video(frames: int) -> dict[str, float]:
    codes = random_codes(np.random.default_rng(77), 6, ("code128", "datamatrix", "ean13",
                                                        "qrcode"))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pass.avi"
        write_video(path, codes, seed=5, n_frames=frames, size=(1280, 720))
        t0 = time.perf_counter()
        result = scan_paths([path])
        elapsed = time.perf_counter() - t0
    expected = {c for c, _ in codes}
    return {
        "frames": result.frames,
        "fps": result.frames / elapsed,
        "recall": len(result.codes & expected) / len(expected),
        "false": len(result.codes - expected),
        "rejected": len(result.rejected),
        "boxes": len(result.boxes),
        "distinct": len(result.codes),
    }


# --------------------------------------------------------------------------- report


def fmt_ratio(a: float, b: float) -> str:
    return "n/a" if b == 0 else f"{a / b:.2f}×"


def report(
    corpus: dict[str, dict[str, tuple[int, int, int, float]]],
    piles: dict[str, object] | None,
    harsh: dict[str, object] | None,
    video: dict[str, float] | None,
    command: str,
) -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = ["## Scanning", "", f"Machine: {machine()}.", f"Command: `{command}`.",
             f"Load average when the report was written (1/5/15 min): {load}; other work "
             "on the machine inflates wall times, CPU times are this process's own.", ""]  # fmt: skip
    if harsh is not None:
        lines += harsh_report(harsh)
    if corpus:
        lines += corpus_report(corpus)
    if piles is not None:
        lines += piles_report(piles)
    if video is not None:
        lines += ["### Video (rendered 1280×720 clip, boxes passing the camera, scan_paths)", "",
                  f"{video['frames']:.0f} frames at {video['fps']:.1f} frames/s; recall "
                  f"{video['recall']:.2f}, false boxes {video['false']:.0f}, boxes reported "
                  f"{video['boxes']:.0f} for {video['distinct']:.0f} distinct codes, rejected "
                  f"reads {video['rejected']:.0f}.", ""]  # fmt: skip
    lines += targets(corpus, harsh, video)
    if harsh is not None:
        lines += [NOT_KEPT, ""]
    return "\n".join(lines)


# Measured while working on issue 15 (harsh photos 0-199, rxtrace boxes with catalog) and
# not kept; written here so the next attempt starts from them.
NOT_KEPT = (
    "Tried on the harsh photos and not kept: motion deconvolution by brute force (box kernels "
    "of 1.5-9 px, no estimate: 4 of 26 missed motion-blurred Code 128 for 34 variants a "
    "region); thin bands along the bars against perspective (+0); a background-flattening "
    "variant against shadow edges (+1 of 325); cubic instead of linear resampling of 1D "
    "crops (-1); zxing-cpp's try_downscale on the full frame (+0); pyzbar as a second "
    "opinion on unread QR crops (0 of 28); a model-based reader for 20-digit set-C Code 128 "
    "(fits start, stop and each symbol's blurred pattern: 2 of 53 missed codes, its module "
    "estimate fails where the others do). Most codes still missed carry small modules "
    "(1.1-2 px), motion blur or defocus together with a second damage. "
    "Then (the model-fitting national Code 128 reader, photos 0-299): where codes are lost: of "
    "367 missed codes 22 were never proposed, 7 read but rejected, the rest seen but not "
    "read; given the true corners (perspective-rectified crops) zxing-cpp and zbar read only "
    "37 of the 367, so decoding, not finding, loses them; the model reader read 82 of 173 "
    "missed Code 128 on such crops, 7 of 75 on affine ones (rows averaged across fanned "
    "bars), which is why it also tries bands of 5 rows. Not kept: a shear and fan search "
    "before averaging the rows (+1 of 75 from the crops); five row bands instead of three "
    "(-2 at 80 ms); six coarse optima refined instead of three (179 against 162 Code 128 from "
    "the crops, but 14 ms a crop: -8 at 80 ms); a denser coarse grid (25×13×9: +17 from the "
    "crops at twice the cost); a coarse search at blur 0.75 module (fewer right, one wrong "
    "fit); smaller coarse grids (-22 and -27 from the crops); the ladder left out or cut to "
    "4 or 6 steps after a failed fit (-11, -2, -2); the model also where zbar alone read "
    "(+0); an unsharpened 3× step in the ladder of matrix symbols zxing-cpp half-saw (-1). "
    "Without the margin rule 17 of 646 fits that passed the check symbol were wrong."
)


# Measured when the second tier's inverted step was added (2026-12-06, a VM about twice as
# slow as the tables' machine: zxing-cpp alone 32 ms a 1080p photo against 19).
INVERTED = (
    "Light on dark (2026-12-06): the first tier looks for dark-on-light symbols only; the "
    "second tier now ends by trying each matrix region still unread inverted (one step each), "
    "while the budget lasts. On the corpus it reads two QR codes raw zxing-cpp read and rxtrace "
    "did not (`qr-inv-1`, `qr-inv-2`, light on a screen): QR 123/137 → 125/137, as many as raw "
    "zxing-cpp; nothing else changed. On the first 100 harsh photos (`--sets harsh --harsh "
    "100`, which hold no inverted symbol) the same reads, 0 false, and a frame's CPU median "
    "100.4–107.0 ms against 97.2–103.5 ms before (`decode_frame` at 80 ms over those photos, "
    "three runs of each in alternation, this VM): about 4 % more. Out of sample, the first 80 "
    "photos of seed 16 (`--sets harsh --harsh 80 --seed 16`): the same recall before and after "
    "in every row (0.721 with a catalog, 0.667 without, 0.729 without a budget), 0 false. "
    "Tried first and not kept: an "
    "inverted zxing-cpp pass over the whole frame, which also read `#709` (light modules on a "
    "colour gradient, where the detector offers no region) but cost about 7 % more of every "
    "photo's CPU (it ran on 86 of the 100 photos, a median 7.1 ms against a frame's 105 ms), "
    "and misses a turned DataMatrix (zxing-cpp reads one only from its region's crop)."
)


def corpus_report(corpus: dict[str, dict[str, tuple[int, int, int, float]]]) -> list[str]:
    lines = ["### Corpus (zxing-cpp sample images, expected text from NAME.txt)", "",
             "Skipped (expected text unknown, no reader can match): "
             + (", ".join(SKIPPED) or "none") + ".", "",
             "| symbology | reader | recall | false reads | median ms/image |",
             "|---|---|---|---|---|"]  # fmt: skip
    for sym in SYMBOLOGIES:
        for name in READERS:
            if sym not in corpus.get(name, {}):
                continue
            hits, total, false, ms = corpus[name][sym]
            lines.append(f"| {sym} | {name} | {hits}/{total} = {hits / total:.3f} | {false} "
                         f"| {ms:.1f} |")  # fmt: skip
    lines.append("")
    if MISMATCHES:
        lines += ["rxtrace reads that differ from NAME.txt (check the picture: some expected "
                  "files are wrong):", ""]  # fmt: skip
        lines += [f"- `{rel}`: expected `{exp[:40]}`, read `{got[:40]}`"
                  for rel, exp, got in MISMATCHES[:12]]  # fmt: skip
        lines.append("")
    return [*lines, INVERTED, ""]


def piles_report(piles: dict[str, object]) -> list[str]:
    rows = piles["rows"]
    truth = piles["truth"]
    assert isinstance(rows, dict) and isinstance(truth, Counter)
    n_truth = sum(truth.values())
    lines = [f"### Rendered harsh piles, the older set ({piles['n']} images 1920×1080, "
             f"{n_truth} codes, `render_pile(damage=\"harsh\")`)", "",
             "| reader | " + " | ".join(SYMBOLOGIES) + " | all | false reads | median ms "
             "(wall) | median ms (CPU) |",
             "|---|" + "---|" * (len(SYMBOLOGIES) + 4)]  # fmt: skip
    for name, (hits, false, wall, cpu) in rows.items():
        cells = [f"{hits[s] / truth[s]:.2f}" if truth[s] else "-" for s in SYMBOLOGIES]
        total = sum(hits.values()) / n_truth
        lines.append(f"| {name} | " + " | ".join(cells) + f" | **{total:.3f}** | {false} | "
                     f"{statistics.median(wall):.0f} | {statistics.median(cpu):.0f} |")  # fmt: skip
    ours = sum(rows["rxtrace boxes, catalog"][0].values())
    raw = sum(rows["zxing-cpp"][0].values())
    zbar = sum(rows["pyzbar"][0].values())
    lines += ["", f"rxtrace (boxes, with catalog) vs raw zxing-cpp: {ours}/{raw} codes = "
              f"{fmt_ratio(ours, raw)}, {100 * (ours - raw) / n_truth:+.1f} points; "
              f"vs raw pyzbar: {fmt_ratio(ours, zbar)}.",
              f"Throughput with {os.cpu_count()} decoding threads: "
              f"{piles['parallel_ms']:.0f} ms per image.", ""]  # fmt: skip
    return lines


def targets(
    corpus: dict[str, dict[str, tuple[int, int, int, float]]],
    harsh: dict[str, object] | None,
    video: dict[str, float] | None,
) -> list[str]:
    def ok(flag: bool) -> str:
        return "met" if flag else "**missed**"

    lines = ["### Targets (issue 15)", ""]
    if harsh is not None:
        rows = harsh["rows"]
        t_dmg, t_sym = harsh["truth_dmg"], harsh["truth_sym"]
        assert isinstance(rows, dict) and isinstance(t_dmg, Counter) and isinstance(t_sym, Counter)
        dmg, _alone, sym, false, wall, cpu = rows["rxtrace boxes, catalog"]
        recall = sum(sym.values()) / sum(t_sym.values())
        med_wall, med_cpu = statistics.median(wall), statistics.median(cpu)
        zx = rows["zxing-cpp"][0]
        below = [d for d in DAMAGES if t_dmg[d] and dmg[d] <= zx[d]]
        lines += [f"- harsh photos recall ≥ 0.65 with zero false boxes: {recall:.3f}, {false} "
                  f"false, {ok(recall >= 0.65 and false == 0)}",
                  f"- median ≤ 80 ms per 1080p photo on one core: {med_cpu:.0f} ms CPU, "
                  f"{med_wall:.0f} ms wall, {ok(med_cpu <= 80)}",
                  "- every damage above raw zxing-cpp: "
                  + (ok(True) if not below else f"not on {', '.join(below)}, {ok(False)}")]  # fmt: skip

    def corpus_recall(name: str) -> float:
        hits, total, _, _ = corpus.get("rxtrace", {}).get(name, (0, 0, 0, 0.0))
        return hits / total if total else 0.0

    if corpus:
        for name, label in (("code128", "Code 128"), ("datamatrix", "DataMatrix")):
            r = corpus_recall(name)
            lines.append(f"- sample corpus {label} recall ≥ 0.99: {r:.3f}, {ok(r >= 0.99)}")
    if video is not None:
        once = video["boxes"] == video["distinct"]
        lines.append(f"- video ≥ 15 frames/s at 1280×720, each box once: {video['fps']:.1f} "
                     f"frames/s, {video['boxes']:.0f} boxes for {video['distinct']:.0f} codes, "
                     f"{ok(video['fps'] >= 15 and once)}")  # fmt: skip
    lines.append("")
    return lines


def write_section(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    # Replace our own section (up to the next "## " heading) and leave the others alone.
    pattern = re.compile(r"^## Scanning\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", old)
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a third of the corpus, 10 piles, 40 harsh photos")  # fmt: skip
    parser.add_argument("--harsh", type=int, default=None, help="harsh photos (default 300)")
    parser.add_argument("--sets", default="corpus,piles,harsh,video",
                        help="comma-separated subset of corpus,piles,harsh,video")  # fmt: skip
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument(
        "--seed", type=int, default=15, help="harsh photos of another seed: a set not tuned on (default 15)"
    )
    args = parser.parse_args()
    if args.write and args.seed != 15:
        parser.error("--write keeps the seed-15 set's table; another seed's figures are printed only")
    sets = set(args.sets.split(","))
    command = ".venv/bin/python bench/scan_bench.py" + (" --quick" if args.quick else "")
    command += f" --seed {args.seed}" if args.seed != 15 else ""
    t0 = time.perf_counter()
    corpus = bench_corpus(args.quick) if CORPUS.is_dir() and "corpus" in sets else {}
    piles = bench_piles(10 if args.quick else 30) if "piles" in sets else None
    n_harsh = args.harsh or (40 if args.quick else 300)
    harsh = bench_harsh(n_harsh, args.seed) if "harsh" in sets else None
    video = bench_video(60 if args.quick else 150) if "video" in sets else None
    text = report(corpus, piles, harsh, video, command)
    if args.seed != 15:  # the report's heading names the tuned set
        named = "`rxtrace.scanners.harsh`, seed"
        text = text.replace(f"{named} 15)", f"{named} {args.seed})")
    print(text)
    print(f"(benchmark took {time.perf_counter() - t0:.0f} s)")
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
