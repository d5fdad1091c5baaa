"""The resolve endpoint under load, as a client on the unit's network meets it.

Serves a demo world as ``rxtrace serve`` does on loopback, logs in, and sends
``GET /api/resolve?code=…`` at fixed rates from an open-loop client (requests leave on schedule
whether or not earlier ones have answered, so a slow server shows as latency instead of being
hidden by a waiting client). For each rate: throughput, p50/p99 latency from each request's
scheduled time, errors. The servers measured side by side (``--servers``):

* ``full``: the real application in one process: session check, role check, resolution, audit
  event;
* ``full-2w``: the same as ``rxtrace serve --workers 2`` runs it (any ``full-Nw``);
* ``full-inline``: ``full`` with every audit event written in its answer's own transaction
  (each answer holds the chain's turn through its own commit): what ``full`` does on SQLite;
* ``full-writer``: ``full`` with the events of answers that changed nothing written through
  the audit writer, many to a commit: what ``full`` does on PostgreSQL;
* ``no-auth-audit``: one process with the session check and the audit write replaced by
  no-ops, so the difference is what logins and the audit cost per request;
* ``health``: ``GET /api/health``, the framework and server alone (the floor).

Before the rates, each one-process server answers ``--cpu-requests`` requests one at a time,
and the CPU time its process spent (from ``/proc``) is divided by them: the server's CPU per
request, which holds while other work shares the cores, where latency does not.

    .venv/bin/python bench/api_bench.py [--engine sqlite|postgres] [--rates 100,200,400,800]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench password 123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_world(folder: Path, engine: str) -> str:
    url = f"sqlite:///{folder / 'rxtrace.db'}"
    if engine == "postgres":
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "rxtrace_api_bench" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "rxtrace_api_bench"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/rxtrace_api_bench"
    rxtrace = str(Path(sys.executable).parent / "rxtrace")
    env = {**os.environ, "RXTRACE_SECRET_KEY": "b" * 32, "RXTRACE_DATABASE_URL": url}
    subprocess.run(
        [rxtrace, "demo", "--no-serve", "--dir", str(folder / "demo"), "--persons", "1000",
         "--database-url", url],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    subprocess.run(
        [rxtrace, "user", "add", "bench", "--role", "investigator"],
        env=env, input=PASSWORD + "\n", text=True, check=True, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return url


def serve(url: str, variant: str, port: int) -> None:
    """Run in a child process: the application, or its variant without auth and audit."""
    import uvicorn

    from rxtrace.api import auth
    from rxtrace.api.app import create_app
    from rxtrace.api.config import Settings
    from rxtrace.trace.accounts import Account, Role

    settings = Settings(database_url=url, secret_key="b" * 32)
    if variant == "full" or (variant.startswith("full-") and variant.endswith("w")):
        # Exactly as rxtrace serve runs it (full-2w: rxtrace serve --workers 2).
        from rxtrace.api.commands.serve import run_server

        run_server(settings, host="127.0.0.1", port=port, workers=int(variant[5:-1] or 1))
        return
    app = create_app(settings)
    if variant in ("full-inline", "full-writer"):
        setattr(app.state.context, "audit_inline", variant == "full-inline")  # noqa: B010
    if variant == "no-auth-audit":
        from datetime import datetime

        # The token is not looked up and no event is written; the wiring stays. (Not
        # dependency_overrides: with any override FastAPI rebuilds every dependency of every
        # request from its signature, a cost of its own in the run meant to show theirs.)
        account = Account("bench", Role.investigator, False, datetime.now())
        setattr(auth, "session_for", lambda _token, **_kwargs: (account, ""))  # noqa: B010
        setattr(auth, "record", lambda _entry, **_kwargs: "0" * 64)  # noqa: B010
        setattr(app.state.context.audit_writer, "append", lambda _entry, **_kwargs: "0" * 64)  # noqa: B010
    # As rxtrace serve runs it (run_server), on the application changed above.
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)


def _query(url: str, sql: str) -> list[Any]:
    """The first column of ``sql``'s rows on the bench's database (rxtrace's own engine)."""
    from sqlalchemy import text

    from rxtrace.trace.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _codes(url: str, limit: int = 500) -> list[str]:
    return [str(code) for code in _query(url, f"SELECT code FROM seized_code LIMIT {limit}")]


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = urllib.parse.urlencode({"username": "bench", "password": PASSWORD})
    conn.request("POST", "/api/auth/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    return str(json.loads(conn.getresponse().read())["access_token"])


def _process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving ``url``'s database (none for SQLite): their CPU
    is the request's too, on the same cores."""
    if not url.startswith("postgresql"):
        return []
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    return [int(pid) for pid in _query(url, sql)]


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a backend that ended
            total += _process_cpu(pid)
    return total


def cpu_per_request(
    port: int, pid: int, paths: list[str], token: str, count: int, url: str = ""
) -> tuple[float, float]:
    """Milliseconds of the server process's CPU per request, and of the database server's
    processes (PostgreSQL's backends; 0 on SQLite, whose work is in the server's process), the
    requests sent one at a time on one kept-alive connection (best of three rounds: another
    program on the cores can only add to it, through caches and the scheduler)."""
    with socket.create_connection(("127.0.0.1", port)) as sock, sock.makefile("rb") as answers:
        requests = [
            f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            for p in paths
        ]

        def one(i: int) -> None:
            sock.sendall(requests[i % len(requests)])
            status, length = answers.readline().split()[1], 0
            while (line := answers.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            answers.read(length)
            if status != b"200":
                raise RuntimeError(f"answer {status.decode()} to {paths[i % len(paths)]}")

        for i in range(min(count, 200)):  # warm
            one(i)
        backends = _backends(url)  # after the warm-up: the pool's connections are open
        rounds = []
        for _ in range(3):
            before, db_before = _process_cpu(pid), _cpu_of(backends)
            for i in range(count):
                one(i)
            rounds.append(((_process_cpu(pid) - before) / count, (_cpu_of(backends) - db_before) / count))
    server, database = min(rounds)
    return 1000 * server, 1000 * database


def run_rate(
    port: int, paths: list[str], token: str, rate: float, seconds: float, connections: int = 64
) -> dict[str, float]:
    """Open loop: request i is due at start + i / rate; latency counts from when it was due
    (``p50_ms``, ``p99_ms``), and from when the client woke to send it (``sent_p50_ms``,
    ``sent_p99_ms``).

    The client's timers wake it late: asyncio waits in epoll, whose timeout is whole
    milliseconds rounded up, so each request leaves up to a millisecond after it was due
    (``lag_p50_ms``, ``lag_p99_ms``), a delay of this client's, which one on another machine
    with a finer timer would not add. From the wake-up the wait for a free connection still
    counts (a saturated server still shows), as wrk counts from the send.

    One thread and asyncio, raw HTTP/1.1 on kept-alive connections: the client shares the two
    cores with the server, and a client of threads (as this one was) took a share of them
    and added its own waits to every latency.
    """
    return asyncio.run(_open_loop(port, paths, token, rate, seconds, connections))


async def _open_loop(
    port: int, paths: list[str], token: str, rate: float, seconds: float, connections: int
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    # A fixed pool of kept-alive connections: a request due while all are busy waits for one,
    # and that wait counts in its latency (as a browser's queue would).
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        for p in paths
    ]
    latencies: list[float] = []
    sent: list[float] = []
    lags: list[float] = []
    errors = 0
    start = loop.time() + 0.2

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, i: int) -> bool:
        writer.write(requests[i % len(requests)])
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lengths = [
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        if not lengths:
            raise ValueError("an answer without Content-Length")
        await reader.readexactly(lengths[0])
        return status == 200

    async def one(i: int) -> None:
        nonlocal errors
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        woke = max(due, loop.time())
        reader, writer = await idle.get()
        try:
            ok = await asyncio.wait_for(exchange(reader, writer, i), timeout=30)
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError):
            ok = False
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        idle.put_nowait((reader, writer))
        answered = loop.time()
        latencies.append(answered - due)
        sent.append(answered - woke)
        lags.append(woke - due)
        errors += not ok

    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = loop.time() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    return {
        "rate": rate,
        "requests": total,
        "throughput": total / elapsed,
        "p50_ms": _ms(latencies, 0.5),
        "p99_ms": _ms(latencies, 0.99),
        "sent_p50_ms": _ms(sent, 0.5),
        "sent_p99_ms": _ms(sent, 0.99),
        "lag_p50_ms": _ms(lags, 0.5),
        "lag_p99_ms": _ms(lags, 0.99),
        "errors": errors,
    }


def _ms(seconds: list[float], share: float) -> float:
    """The ``share`` quantile of ``seconds``, in milliseconds (the p99 as it was always taken)."""
    ordered = sorted(seconds)
    return 1000 * (statistics.median(ordered) if share == 0.5 else ordered[int(share * (len(ordered) - 1))])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rates", default="100,200,400,800")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--cpu-requests", type=int, default=1000, help="requests per round of the CPU measurement (0: none)"
    )
    parser.add_argument(
        "--servers",
        default="full,full-2w,no-auth-audit,health",
        help="full, full-Nw (rxtrace serve --workers N), full-inline, full-writer, no-auth-audit, health",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the client on the last CPU, the server on the others: the client as if on another machine",
    )
    parser.add_argument("--serve", nargs=3, metavar=("URL", "VARIANT", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    rates = [float(r) for r in args.rates.split(",")]
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = set(cpus[:-1]) if args.pin and len(cpus) > 1 else set(cpus)
    if args.pin and len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[-1]})
    with tempfile.TemporaryDirectory(prefix="rxtrace-api-bench-") as folder:
        print(f"building a demo world on {args.engine} …", file=sys.stderr)
        url = build_world(Path(folder), args.engine)
        codes = _codes(url)
        resolve_paths = [f"/api/resolve?code={urllib.parse.quote(c)}" for c in codes]
        pinned = f"; server on CPUs {sorted(server_cpus)}, client on CPU {cpus[-1]}" if args.pin else ""
        print(f"engine {args.engine}; {len(codes)} codes; {args.seconds:.0f} s per rate{pinned}")
        print(
            f"{'server':<15}{'rate/s':>8}{'done/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
            f"{'sent p50':>10}{'sent p99':>10}{'lag p50':>9}{'lag p99':>9}"
        )
        for variant in args.servers.split(","):
            paths = ["/api/health"] if variant == "health" else resolve_paths
            port = _free_port()
            child = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--serve",
                    url,
                    "full" if variant == "health" else variant,
                    str(port),
                ],
                preexec_fn=lambda: os.sched_setaffinity(0, server_cpus),
            )
            try:
                for _ in range(300):
                    try:
                        http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/api/health")
                        break
                    except OSError:
                        time.sleep(0.1)
                token = _login(port)
                if args.cpu_requests and not variant.endswith("w"):  # a worker is not this process
                    cpu, db_cpu = cpu_per_request(port, child.pid, paths, token, args.cpu_requests, url)
                    database = f", database {db_cpu:.3f} ms" if args.engine == "postgres" else ""
                    print(f"{variant:<15}{'CPU per request':>22}{cpu:>8.3f} ms{database}", flush=True)
                run_rate(port, paths, token, 50, 2)  # warm: caches, connections, the first audit writes
                for rate in rates:
                    r = run_rate(port, paths, token, rate, args.seconds)
                    print(
                        f"{variant:<15}{rate:>8.0f}{r['throughput']:>9.0f}{r['p50_ms']:>9.2f}"
                        f"{r['p99_ms']:>9.2f}{r['errors']:>8.0f}{r['sent_p50_ms']:>10.2f}"
                        f"{r['sent_p99_ms']:>10.2f}{r['lag_p50_ms']:>9.2f}{r['lag_p99_ms']:>9.2f}",
                        flush=True,
                    )
            finally:
                child.terminate()
                child.wait(timeout=20)


if __name__ == "__main__":
    main()
