"""``rxtrace serve``: the HTTP API on this machine."""

from __future__ import annotations

import typer

from rxtrace.api.commands.common import app_context
from rxtrace.api.output import err

__all__ = ["register"]


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
) -> None:
    """Serve the JSON API (resolution of codes, seizures and cases)."""
    import uvicorn

    from rxtrace.api.app import create_app

    app = create_app(app_context(ctx).settings)
    err.print(f"rxtrace API on http://{host}:{port}/api/health")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
