"""The investigators' pages: server-rendered shells in Chinese or English whose scripts use
the JSON API alone, and the static files they load: our own scripts and styles, and the
browser libraries (Leaflet, Cytoscape.js, zxing-wasm) installed from the npm registry at
set-up into ``static/vendor`` (``scripts/web-assets``). Nothing is fetched from elsewhere."""

from __future__ import annotations

import sys

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from rxtrace.api.web.views import PAGES, STATIC_DIR, router

__all__ = ["PAGES", "VENDOR_DIR", "install_pages", "router"]

VENDOR_DIR = STATIC_DIR / "vendor"


def install_pages(app: FastAPI) -> None:
    """Add the pages and their static files to ``app``."""
    if not (VENDOR_DIR / "VERSIONS").exists():
        # The API works without them; the pages would load without their libraries.
        print(
            f"rxtrace: the pages' browser libraries are not installed in {VENDOR_DIR}; "
            "run scripts/web-assets (make install does)",
            file=sys.stderr,
        )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
