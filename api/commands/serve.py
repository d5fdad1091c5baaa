"""``rxtrace serve``: the HTTP API on this machine, over HTTPS when given a certificate."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from rxtrace.api.commands.common import app_context
from rxtrace.api.config import Settings
from rxtrace.api.output import err
from rxtrace.trace.errors import RxtraceError

__all__ = ["register", "run_server"]


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="Certificate (PEM) to serve HTTPS: phones allow the camera only there."
    ),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The certificate's private key (PEM)."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes: one per core serves more requests at once."
    ),
) -> None:
    """Serve the pages and the API (every capability, behind logins) for the unit's browsers
    and programs."""
    if (tls_cert is None) != (tls_key is None):
        raise RxtraceError("Give both --tls-cert and --tls-key, or neither.")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise RxtraceError(f"No such file: '{path}'.")
    run_server(
        app_context(ctx).settings, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, workers=workers
    )


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    workers: int = 1,
) -> None:
    """Serve the API and the pages until stopped (Ctrl-C), in ``workers`` processes.

    Sessions, the login throttle and the audit chain live in the database, so any worker can
    answer any request; each worker builds its own application from the same settings.
    """
    import uvicorn

    from rxtrace.api.app import HTTPS_VARIABLE, create_app

    https = tls_cert is not None
    app = create_app(settings, https=https)
    with app.state.context.session() as session:
        from rxtrace.trace.accounts import list_users
        from rxtrace.trace.ingest.contract import TABLES
        from rxtrace.trace.store.db import analyze, never_sampled

        # A load samples what it grew; a database restored from a dump, or filled while no
        # autovacuum ran, has nothing for the planner to go on, and a case's boxes would be
        # looked up by scanning every month of sales. Sampled once, here, before any question.
        unsampled = never_sampled(session.connection(), {spec.model_table for spec in TABLES.values()})
        analyze(
            session.connection(),
            unsampled,
            told=lambda names: err.print(
                f"sampling {', '.join(names)} for the query planner (never sampled)"
            ),
        )
        session.commit()
        if not list_users(session=session):
            err.print("note: no user yet; add one with `rxtrace user add NAME --role admin`.")
    scheme = "https" if https else "http"
    err.print(f"rxtrace pages on {scheme}://{host}:{port}/ and API on {scheme}://{host}:{port}/api/health")
    target: Any = app
    if workers > 1:
        # Each worker process imports the application and reads these back.
        os.environ.update(settings.to_environment())
        os.environ[HTTPS_VARIABLE] = "1" if https else "0"
        target = "rxtrace.api.app:app_from_environment"
    uvicorn.run(
        target,
        factory=workers > 1,
        workers=workers if workers > 1 else None,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=False,  # the address throttled and audited is the peer's, not a header's
        timeout_graceful_shutdown=5,  # a stop waits this long for open connections, not forever
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("cert")(cert)


def cert(
    ctx: typer.Context,
    hosts: list[str] = typer.Option(
        ..., "--host", help="A name or IP address the server is reached by (repeat)."
    ),
    folder: Path = typer.Option(Path("tls"), "--dir", help="Where the authority and certificates are kept."),
    unit: str = typer.Option(
        "rxtrace", "--unit", help="The unit's name, shown in the authority's certificate."
    ),
) -> None:
    """Make the unit's own certificate authority (once) and a server certificate for its names
    and addresses, for `rxtrace serve --tls-cert --tls-key`."""
    from rxtrace.api.output import print_table
    from rxtrace.api.tls import issue_server_certificate

    issued = issue_server_certificate(folder, hosts, unit=unit)
    print_table("Certificates", ("what", "value"), list(issued.to_dict().items()))
    err.print(
        f"Serve with: rxtrace serve --host 0.0.0.0 --tls-cert {issued.cert} --tls-key {issued.key}\n"
        f"Each phone trusts {folder / 'ca.crt'} once (README: HTTPS for phones); "
        "keep ca-key.pem off the network.",
        markup=False,
        highlight=False,
    )
