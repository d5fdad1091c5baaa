"""The pages in Debian's headless Chromium, driven by Playwright, on the demo world.

The server and the browser share a network namespace of their own with nothing in it but
loopback (``unshare -n``), so a page that reached for a CDN or a tile server would fail, and
every request the pages make is checked to stay on 127.0.0.1. The scan page is fed by
Chromium's fake camera from a generated video of labels passing the lens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rxtrace.api.web import VENDOR_DIR

CHROMIUM = Path("/usr/bin/chromium")
SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "contract" / "sample"
RXTRACE = Path(sys.executable).with_name("rxtrace")
PASSWORD = "correct horse battery"
CASE = "CASE-2026-0117"
SHOTS = Path(os.environ.get("RXTRACE_SCREENSHOTS", "")) if os.environ.get("RXTRACE_SCREENSHOTS") else None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not (VENDOR_DIR / "VERSIONS").exists(), reason="scripts/web-assets has not run"),
]


def _isolated() -> bool:
    return shutil.which("unshare") is not None and os.system("unshare -n true 2>/dev/null") == 0


@dataclass
class Demo:
    base: str
    env: dict[str, str]
    folder: Path
    chromium: str
    requests: list[str] = field(default_factory=list)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(RXTRACE), *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int]) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("pages") / "demo"
    env = {**os.environ, "RXTRACE_DATA_DIR": str(folder)}
    built = subprocess.run(
        [str(RXTRACE), "demo", "--no-serve", "--dir", str(folder), "--persons", "400"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    env["RXTRACE_DATABASE_URL"] = f"sqlite:///{folder / 'rxtrace.db'}"
    env["RXTRACE_KEY_FILE"] = str(folder / "secret.key")
    port = free_port()
    serve = [str(RXTRACE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    chromium = str(CHROMIUM)
    if _isolated():
        # A namespace with only loopback, brought up; the browser joins it below.
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *serve]
    else:
        command = serve
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if _isolated():
        launcher = folder / "chromium-in-netns"
        launcher.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{server.pid}/ns/net {CHROMIUM} "$@"\n')
        launcher.chmod(0o755)
        chromium = str(launcher)
    made = Demo(f"http://127.0.0.1:{port}", env, folder, chromium)
    for name, role in (("sup", "supervisor"), ("inv", "investigator"), ("adm", "admin")):
        made.cli("user", "add", name, "--role", role, stdin=PASSWORD + "\n")
    time.sleep(3)  # the server starts while the users are added
    assert server.poll() is None, server.stderr.read() if server.stderr else ""
    yield made
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=20)
    outside = [url for url in made.requests if not url.startswith(made.base) and not url.startswith("data:")]
    assert not outside, outside[:5]


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=demo.chromium,
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={_video(demo)}",
            ],
        )
        yield launched
        launched.close()


def _context(browser: Any, demo: Demo, *, width: int = 1366, height: int = 900) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=demo.base)
    return context


def _page(context: Any, demo: Demo, user: str, problems: list[str]) -> Any:
    page = context.new_page()
    page.on("request", lambda r: demo.requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _shot(page: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_a_supervisor_works_a_case_through_the_pages(browser: Any, demo: Demo) -> None:
    problems: list[str] = []
    context = _context(browser, demo)
    page = _page(context, demo, "sup", problems)
    page.wait_for_selector(f"#cases a[href='/cases/{CASE}']")
    _shot(page, "home-desktop")

    # Resolve pasted codes: one malformed, one real box of the case.
    box = json.loads(demo.cli("resolve", "--case", CASE, "--format", "json"))["codes"][0]["code"]
    page.goto("/resolve")
    page.fill("#codes", f"{box}\nnot-a-code")
    page.click("#resolve-form button[type=submit]")
    page.wait_for_selector("#boxes tbody tr[data-status=malformed]")
    assert page.locator("#boxes tbody tr").count() == 2
    assert page.locator(f"#boxes tbody tr[data-code='{box}'] .status").inner_text() != ""
    _shot(page, "resolve-desktop")

    # The case: the chart drew its aggregated nodes, the timeline its events; a node expands
    # to its sales and boxes and collapses again.
    page.goto(f"/cases/{CASE}")
    page.wait_for_function("() => Number(document.querySelector('#chart').dataset.nodes) > 10")
    page.wait_for_function("() => Number(document.querySelector('#timeline').dataset.events) > 10")
    assert page.locator("#timeline svg rect.ev").count() > 10
    assert page.locator("#boxes tbody tr").count() > 100
    before = int(page.locator("#chart").get_attribute("data-nodes") or 0)
    page.click(".chart-list summary")
    page.locator("#chart-list li .toggle").first.click()
    page.wait_for_function(f"() => Number(document.querySelector('#chart').dataset.nodes) > {before}")
    page.locator("#chart-list li .toggle").first.click()
    page.wait_for_function(f"() => Number(document.querySelector('#chart').dataset.nodes) === {before}")
    # Selecting a node in the chart (here from its list) highlights its events on the timeline.
    page.locator("#chart-list li button").first.click()
    page.wait_for_function("() => document.querySelectorAll('#timeline rect.hi').length > 0")
    page.select_option("#tl-by", "institution")
    page.wait_for_function("() => document.querySelectorAll('#timeline rect.ev').length > 10")
    _shot(page, "case-desktop")

    # Unmask with a reason: the event is on /audit with the reason.
    page.fill("#reveal-reason", "prosecutor asked for the card holders")
    page.click("#reveal-form button[type=submit]")
    page.wait_for_timeout(1500)
    page.goto("/audit")
    page.wait_for_selector("#events tbody tr")
    assert page.locator("#events tbody tr", has_text="prosecutor asked for the card holders").count() >= 1
    assert "OK" in page.locator("#chain").inner_text()
    _shot(page, "audit-desktop")

    # The map drew every layer from the server alone.
    page.goto(f"/map?case={CASE}")
    page.wait_for_selector("#map[data-ready='1']", timeout=30_000)
    assert page.locator("path.rx-cell").count() > 0
    assert page.locator("path.rx-seizure").count() > 0
    assert page.locator("path.rx-route").count() > 0
    # A hot spot's popup says what it is in words; the statistics are folded away.
    page.locator("path.rx-cell").first.dispatch_event("click")
    words = page.locator(".leaflet-popup .spot-words").inner_text()
    assert "%" in words or "不显著" in words, words
    _shot(page, "map-desktop")

    # A lead through its workflow: taken up, escalated.
    page.goto("/leads")
    page.wait_for_selector("#leads tbody tr[data-lead]")
    page.locator("#leads tbody tr[data-lead]").first.click()
    page.wait_for_selector("#lead-detail .rule")
    page.click("#lead-detail button[data-to=investigating]")
    page.wait_for_selector("#lead-detail button[data-to=escalated]")
    page.fill("#lead-note", "handed to the economic crimes unit")
    page.click("#lead-detail button[data-to=escalated]")
    page.wait_for_selector("#lead-detail .lead-escalated")
    assert page.locator("#lead-detail .history li").count() >= 2
    _shot(page, "leads-desktop")
    context.close()
    assert not problems, problems


def test_an_investigator_is_refused_what_the_role_may_not_do(browser: Any, demo: Demo) -> None:
    problems: list[str] = []
    context = _context(browser, demo)
    page = _page(context, demo, "inv", problems)
    assert page.locator("nav a[href='/audit']").count() == 0
    assert page.goto("/audit").status == 403
    page.goto("/leads")
    page.wait_for_selector("#leads tbody tr[data-lead]")
    page.locator("#leads tbody tr[data-lead]").last.click()
    page.wait_for_selector("#lead-detail .rule")
    assert page.locator("#lead-detail button[data-to=escalated]").count() == 0
    lead = page.locator("#leads tbody tr[data-lead]").last.get_attribute("data-lead")
    status = page.evaluate(
        """async (id) => {
            const csrf = document.cookie.split('; ').find((c) => c.startsWith('rxtrace_csrf=')).slice(13);
            const r = await fetch(`/api/leads/${id}/status`, {method: 'POST',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
              body: JSON.stringify({status: 'escalated'})});
            return r.status;
        }""",
        lead,
    )
    assert status == 403
    # At a raid, a seizure not yet on record is opened from the scan page.
    page.goto("/scan")
    page.click("#new-seizure summary")
    page.fill("#new-seizure-form input[name=seizure_id]", "Z-AT-THE-SCENE")
    page.fill("#new-seizure-form input[name=case_id]", CASE)
    page.click("#new-seizure-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#seizure').value === 'Z-AT-THE-SCENE'")
    listed = json.loads(demo.cli("seizures", "--format", "json"))["seizures"]
    assert any(s["seizure_id"] == "Z-AT-THE-SCENE" and s["case_id"] == CASE for s in listed)
    context.close()
    assert not [p for p in problems if "403" not in p], problems


@pytest.mark.parametrize("width,height", [(360, 780), (1366, 900)])
def test_every_page_at_phone_and_desktop_widths(browser: Any, demo: Demo, width: int, height: int) -> None:
    problems: list[str] = []
    for user, paths in (
        ("sup", ["/", "/resolve", f"/cases/{CASE}", "/map", "/leads", "/audit", "/scan"]),
        ("adm", ["/admin/users", "/loads"]),
    ):
        context = _context(browser, demo, width=width, height=height)
        page = _page(context, demo, user, problems)
        for path in paths:
            answer = page.goto(path)
            assert answer.status == 200, path
            page.wait_for_load_state("networkidle")
            # Nothing wider than the screen but the tables, which scroll in their own box.
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 1, (path, width, overflow)
            _shot(page, f"{path.strip('/').replace('/', '_') or 'home'}-{width}")
        context.close()
    assert not problems, problems


def test_an_admin_uploads_a_contract_file_and_sees_the_rows_set_aside(
    browser: Any, demo: Demo, tmp_path: Path
) -> None:
    catalog = (SAMPLE / "catalog.csv").read_text(encoding="utf-8")
    upload = tmp_path / "catalog-update.csv"
    upload.write_text(catalog.rstrip("\n") + "\nthis line is not a catalogue row\n", encoding="utf-8")
    problems: list[str] = []
    context = _context(browser, demo, width=412, height=915)
    page = _page(context, demo, "adm", problems)
    assert page.url.endswith("/admin/users")  # an admin lands on the first page theirs
    page.goto("/loads")
    page.set_input_files("input[name=files]", str(upload))
    page.click("#load-form button[type=submit]")
    page.wait_for_selector("#load-files tbody tr")
    row = page.locator("#load-files tbody tr").first.inner_text()
    assert "catalog-update.csv" in row and "catalog" in row
    page.locator("#rejects tbody tr", has_text="catalog-update.csv").first.wait_for()
    _shot(page, "loads-report-412")
    context.close()
    assert not problems, problems


def _video(demo: Demo) -> Path:
    """A Y4M video (Chromium's fake camera reads it) of six labels sliding past the lens,
    one at a time, slowly, as a phone filming a pile in one pass sees them. The codes are of
    drugs in the demo's catalogue (the scanner trusts a linear read of an unknown product
    less) with serial numbers no sale carries."""
    import cv2

    from rxtrace.scanners.render import render_label

    folder = demo.folder
    seized = json.loads(demo.cli("resolve", "--case", CASE, "--format", "json"))["codes"]
    products = sorted({c["key"][:7] for c in seized if c["family"] == "national"})
    codes = [f"{products[i % len(products)]}9{i:08d}0000" for i in range(6)]
    (folder / "video-codes.json").write_text(json.dumps(codes))
    width, height, fps = 960, 540, 10
    frames: list[np.ndarray] = []
    for i, code in enumerate(codes):
        label, _ = render_label(code, "datamatrix" if i % 2 else "code128")
        # Filmed close, as one films a pile: about 3 pixels a module.
        scale = min(640 / label.shape[1], 360 / label.shape[0])
        resized = cv2.resize(label, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        shown = np.asarray(resized, np.uint8)
        h, w = shown.shape
        for step in range(24):  # 2.4 s per label: into view, held, out of view
            frame = np.full((height, width), 120, dtype=np.uint8)
            x = int((width + w) * (step / 23) - w) if step < 6 or step > 17 else (width - w) // 2
            x = max(-w + 1, min(width - 1, x))
            y = (height - h) // 2
            x0, x1 = max(0, x), min(width, x + w)
            frame[y : y + h, x0:x1] = shown[:, x0 - x : x1 - x]
            frames.append(frame)
    path = folder / "boxes.y4m"
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8).tobytes()
        for frame in frames:
            out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)
    return path


def _recorded(demo: Demo, seizure: str) -> int:
    listed = json.loads(demo.cli("seizures", "--format", "json"))["seizures"]
    return int(next(s["codes"] for s in listed if s["seizure_id"] == seizure))


@pytest.mark.parametrize("drop", [False, True], ids=["online", "connection-drops"])
def test_the_scan_page_counts_every_box_once_and_records_it(browser: Any, demo: Demo, drop: bool) -> None:
    codes = json.loads((demo.folder / "video-codes.json").read_text())
    seizures = json.loads(demo.cli("seizures", "--format", "json"))["seizures"]
    seizure = seizures[-1 if drop else 0]["seizure_id"]
    before = _recorded(demo, seizure)
    problems: list[str] = []
    context = _context(browser, demo, width=412, height=915)
    context.grant_permissions(["camera"], origin=demo.base)
    page = _page(context, demo, "inv", problems)
    page.goto(f"/scan?seizure={seizure}")
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # the page is kept offline
    page.click("#scan-start")
    if drop:
        page.wait_for_function("() => Number(document.querySelector('#box-count').textContent) >= 1")
        context.set_offline(True)
        page.wait_for_function("() => Number(document.querySelector('#queue-count').textContent) >= 1")
    page.wait_for_function(
        f"() => Number(document.querySelector('#box-count').textContent) >= {len(codes)}", timeout=120_000
    )
    shown = codes  # the codes the list holds at the end
    if drop:
        page.click("#scan-stop")
        page.wait_for_timeout(1000)  # the last read's write to IndexedDB completes
        queued = page.evaluate(
            "() => new Promise((ok) => { const r = indexedDB.open('rxtrace-scan');"
            " r.onsuccess = () => { const c = r.result.transaction('reads')"
            ".objectStore('reads').getAll(); c.onsuccess = () => ok(c.result.map((x) => x.code)); }; })"
        )
        waiting = len(queued)
        assert waiting >= 1
        # After the reload the list is what still waited: a read the server took before the
        # cut (the first box's, when its request beat the cut) is on the seizure already.
        shown = sorted(set(queued))
        read = page.eval_on_selector_all("[data-code]", "nodes => nodes.map((n) => n.dataset.code)")
        assert sorted(read) == sorted(codes)
        # Still offline, the page reloads from the service worker's cache, and the reads
        # still wait in IndexedDB: nothing is lost with the tab.
        page.reload()
        page.wait_for_function(
            f"() => document.querySelector('#queue-count').textContent === '{waiting}'", timeout=60_000
        )
        context.set_offline(False)
    page.wait_for_function("() => document.querySelector('#queue-count').textContent === '0'", timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#reads li')]"
        ".every((li) => ['resolved', 'refused'].includes(li.dataset.state))",
        timeout=60_000,
    )
    states = page.eval_on_selector_all(
        "#reads li", "nodes => nodes.map((n) => n.dataset.state + ' ' + n.innerText)"
    )
    assert all(state.startswith("resolved") for state in states), states
    assert page.locator("#reads li[data-status=not_dispensed]").count() == len(shown)  # no sale carries them
    read = page.eval_on_selector_all("[data-code]", "nodes => nodes.map((n) => n.dataset.code)")
    assert sorted(read) == sorted(shown)  # each once, none invented
    if not drop:  # after the reload the count is of what this page has seen
        assert page.locator("#box-count").inner_text() == str(len(codes))
        assert _recorded(demo, seizure) == before + len(codes)
        # "Photo" sends a full-resolution still to the server's own decoder (it may add a
        # read of a box already on the seizure, from the new photo).
        with page.expect_response(lambda r: "/api/scans?" in r.url) as photo:
            page.click("#scan-photo")
        assert photo.value.status == 200, photo.value.text()
        assert "boxes" in photo.value.json()
    _shot(page, f"scan-{'offline' if drop else 'online'}-412")
    context.close()
    if drop:
        assert _recorded(demo, seizure) == before + len(codes)
    # Only the requests the cut connection refused, nothing else.
    assert not [p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p], problems
