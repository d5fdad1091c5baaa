"""The HTML map in headless Chromium with no network: every layer must draw from the file alone."""

from __future__ import annotations

import os
import re
import shutil
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from geo_worlds import SEIZURE_SITE, T0, add_seizure, add_waybill, collection_world, offset, small_case
from sqlalchemy.orm import Session

from rxtrace.geo import maps

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
URL = re.compile(r"https?://", re.IGNORECASE)


def _world(session: Session) -> None:
    small_case(session)
    collection_world(session)
    add_seizure(session, "C2-S3", "C2", *offset(*SEIZURE_SITE, -2_000, 1_000), when=T0 + timedelta(days=40))
    for i in range(4):
        add_waybill(session, f"B{i}", offset(*SEIZURE_SITE, 80, 10.0 * i), when=T0 + timedelta(days=5 * i))
    add_waybill(
        session,
        "B-SZ",
        offset(*SEIZURE_SITE, 9_000, 0),
        receiver="440305",
        weight=1.0,
        sender_adcode="310115",
        when=T0 + timedelta(days=60),
    )
    session.flush()


@pytest.fixture
def page_file(session: Session, tmp_path: Path) -> Path:
    _world(session)
    data = maps.build_map_data(session=session, case_id="C2", layer="residences")
    assert data.hotspots.hot_cells and data.hotspots.clusters and any(r.flagged for r in data.routes)
    return maps.write_html_map(data, out=tmp_path / "case map.html")


def test_page_names_no_network_address(page_file: Path) -> None:
    text = page_file.read_text(encoding="utf-8")
    assert not URL.search(text), URL.search(text)
    assert "default-src 'none'" in text  # the browser itself refuses any fetch


def _isolated_chromium(tmp_path: Path) -> str:
    """A launcher that runs Chromium in a new network namespace (no interface but a down lo)."""
    if shutil.which("unshare") is None or os.system("unshare -n true 2>/dev/null") != 0:
        return str(CHROMIUM)
    launcher = tmp_path / "chromium-offline"
    launcher.write_text(f'#!/bin/sh\nexec unshare -n {CHROMIUM} "$@"\n', encoding="utf-8")
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    return str(launcher)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_map_draws_every_layer_offline(page_file: Path, tmp_path: Path) -> None:
    from playwright.sync_api import Route, sync_playwright

    attempted: list[str] = []
    errors: list[str] = []

    def block(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_isolated_chromium(tmp_path), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.route("**/*", block)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "requestfailed", lambda r: attempted.append(r.url) if not r.url.startswith("file:") else None
            )
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=15_000)
            count = {
                cls: page.locator(f"svg path.{cls}").count()
                for cls in (
                    "rx-district",
                    "rx-province",
                    "rx-cell",
                    "rx-cluster",
                    "rx-seizure",
                    "rx-institution",
                    "rx-route",
                )
            }
            assert count["rx-district"] == 16 and count["rx-province"] == 34
            assert count["rx-cell"] >= 5 and count["rx-cluster"] >= 1
            assert count["rx-seizure"] == 3 and count["rx-institution"] == 1
            # Both routes on the China inset; on the city's map only what is inside the city or
            # flagged (as an arrow to its edge), so the default view of Shanghai stays readable.
            assert page.locator("svg path.rx-inset-route").count() == 2
            assert count["rx-route"] == 1
            assert page.locator(".leaflet-control-layers-overlays label").count() == 8
            assert "Hot spot, 99 %" in page.locator(".rx-legend").inner_text()
            # The time filter: narrowing to the first days hides the later seizures and routes.
            page.evaluate("document.getElementById('rx-to').value = 0; rxMap.applyFilter()")
            assert page.locator("svg path.rx-seizure").count() == 1
            assert page.locator("svg path.rx-route").count() == 1  # shipped in those first days
        finally:
            browser.close()
    assert errors == []
    assert attempted == []
