"""A big case's JSON, as a user meets it: ``rxtrace resolve --case C --format json`` as a whole
command, beside the resolution inside it and the serialisation of its document.

    .venv/bin/python bench/json_bench.py [--rows 400000] [--boxes 20000]

Builds a SQLite world of N sales rows (bench/core_bench.py's generator) and one case of B seized
boxes, half of them sold, then times, each best of three:
- ``resolve_case`` alone, in this process (the engine's work and the rules);
- the document: ``resolution_document`` (dicts) and its serialisation, with the standard
  library's encoder (what rxtrace used to do) and with orjson (what it does);
- the whole command in a child process, its stdout to /dev/null.
The issue's target: the whole command within 2x of the resolution itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_bench import code_of, write_csv

RXTRACE = Path(sys.executable).with_name("rxtrace")


def best(work: Any, runs: int = 3) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(runs):
        started = time.perf_counter()
        value = work()
        times.append(time.perf_counter() - started)
    return min(times), value


def build_world(root: Path, env: dict[str, str], rows: int, boxes: int) -> None:
    """The sales, one seizure and its boxes (half sold), loaded into a SQLite file in root."""
    write_csv(root / "dispensing.csv", rows)
    with (root / "seizures.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [
                ["seizure_id", "case_id", "seized_at", "place_kind"],
                ["BIG-1", "BIG", "2026-01-15 10:30:00", "stall"],
            ]
        )
    step = max(1, rows // (boxes // 2))
    with (root / "seized_codes.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seizure_id", "code"])
        for i in range(boxes):
            # Half sold (every step-th row's code), half never sold.
            writer.writerow(["BIG-1", code_of(i * step) if i % 2 == 0 else code_of(rows + i)])
    loaded = subprocess.run(
        [str(RXTRACE), "load", str(root / "dispensing.csv"), str(root / "seizures.csv"),
         str(root / "seized_codes.csv"), "--no-prepare-leads", "--format", "json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if loaded.returncode != 0:
        sys.exit(loaded.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--boxes", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, help="keep the world here and reuse it next time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rxtrace-json-bench-") as folder:
        root = args.dir or Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RXTRACE_DATA_DIR": str(root), "RXTRACE_SECRET_KEY": "b" * 32}
        if not (root / "loaded").exists():
            build_world(root, env, args.rows, args.boxes)
            (root / "loaded").write_text(f"{args.rows} {args.boxes}\n")

        # The command first: run later, its child would start from this process's memory.
        def whole() -> int:
            """The command as a user runs it; returns its peak resident memory in KB."""
            child = subprocess.Popen(
                [str(RXTRACE), "resolve", "--case", "BIG", "--format", "json"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                sys.exit(f"rxtrace resolve exited {child.returncode}")
            return usage.ru_maxrss

        t_whole, peak_kb = best(whole)
        t_startup, _ = best(
            lambda: subprocess.run(
                [str(RXTRACE), "--version"], env=env, stdout=subprocess.DEVNULL, check=True
            )
        )

        os.environ.update(env)
        from rxtrace.api.commands.common import app_context  # noqa: F401 - the CLI's own imports
        from rxtrace.api.config import Settings
        from rxtrace.api.context import AppContext
        from rxtrace.api.documents import resolution_document
        from rxtrace.api.output import dumps, json_chunks, to_jsonable
        from rxtrace.trace.gcpause import collector_paused
        from rxtrace.trace.resolve import resolve_case

        app = AppContext(Settings())
        with app.session() as session:
            t_resolve, resolution = best(lambda: resolve_case("BIG", session=session))
        t_document, document = best(lambda: resolution_document(resolution, reveal=False))
        t_stdlib, text = best(lambda: json.dumps(to_jsonable(document), ensure_ascii=False, indent=2))
        t_orjson, blob = best(lambda: dumps(document))
        assert json.loads(text) == json.loads(blob)  # the same document either way

        def streamed() -> bytes:
            """Dicts and bytes made a chunk at a time, as ``print_json`` writes them."""
            with collector_paused():
                document = resolution_document(resolution, reveal=False, stream=True)
                return b"".join(json_chunks(document))

        t_stream, pieces = best(streamed)
        assert pieces == blob  # byte for byte

    boxes = len(resolution.boxes)
    print(
        f"# json_bench: {args.rows:,} sales rows, case of {boxes:,} boxes, {len(blob) / 1e6:.1f} MB of JSON"
    )
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'step':<46}{'seconds':>10}{'x resolve':>11}")
    for name, seconds in (
        ("resolve_case (the resolution itself)", t_resolve),
        ("resolution_document (dicts)", t_document),
        ("to_jsonable + json.dumps indent=2 (before)", t_stdlib),
        ("orjson dumps, indent 2 (whole document)", t_orjson),
        ("dicts + JSON streamed, collector paused (now)", t_stream),
        ("rxtrace --version (start-up)", t_startup),
        ("rxtrace resolve --case --format json (whole)", t_whole),
    ):
        print(f"{name:<46}{seconds:>10.3f}{seconds / t_resolve:>11.2f}")
    print(f"# the whole command's peak memory: {peak_kb / 1024:.0f} MB (JSON written as it is made)")


if __name__ == "__main__":
    main()
