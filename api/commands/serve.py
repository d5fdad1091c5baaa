"""``rxtrace serve``: the HTTP API on this machine, over HTTPS when given a certificate."""

from __future__ import annotations

from pathlib import Path

import typer

from rxtrace.api.commands.common import app_context
from rxtrace.api.output import err
from rxtrace.trace.errors import RxtraceError

__all__ = ["register"]


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="Certificate (PEM) to serve HTTPS: phones allow the camera only there."
    ),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The certificate's private key (PEM)."),
) -> None:
    """Serve the API (every capability, behind logins) for the unit's browsers and programs."""
    import uvicorn

    from rxtrace.api.app import create_app

    if (tls_cert is None) != (tls_key is None):
        raise RxtraceError("Give both --tls-cert and --tls-key, or neither.")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise RxtraceError(f"No such file: '{path}'.")
    https = tls_cert is not None
    app = create_app(app_context(ctx).settings, https=https)
    with app.state.context.session() as session:
        from rxtrace.trace.accounts import list_users

        if not list_users(session=session):
            err.print("note: no user yet; add one with `rxtrace user add NAME --role admin`.")
    scheme = "https" if https else "http"
    err.print(f"rxtrace API on {scheme}://{host}:{port}/api/health")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=False,  # the address throttled and audited is the peer's, not a header's
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
