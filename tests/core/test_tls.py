"""HTTPS with the unit's own authority: `rxtrace cert` makes it, `rxtrace serve` speaks it,
and a client that trusts only that authority connects by name and by address."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from rxtrace.api.tls import issue_server_certificate
from rxtrace.trace.errors import ParseError


def test_the_authority_is_made_once_and_reused(tmp_path: Path) -> None:
    first = issue_server_certificate(tmp_path, ["rxtrace.unit.lan", "192.168.1.20"])
    second = issue_server_certificate(tmp_path, ["rxtrace.unit.lan"])
    assert first.ca_created and not second.ca_created and first.ca_sha256 == second.ca_sha256
    assert oct((tmp_path / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    leaf = x509.load_pem_x509_certificates((tmp_path / "server.pem").read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["rxtrace.unit.lan"]
    with pytest.raises(ParseError, match="host name"):
        issue_server_certificate(tmp_path, ["bad host/"])


def test_serve_speaks_https_that_trusts_only_the_units_authority(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    rxtrace = shutil.which("rxtrace", path=str(Path(sys.executable).parent))
    assert rxtrace is not None
    made = subprocess.run(
        [rxtrace, "cert", "--host", "localhost", "--host", "127.0.0.1", "--dir", str(tmp_path / "tls")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    port = free_port()
    env = {**os.environ, "RXTRACE_DATA_DIR": str(tmp_path), "RXTRACE_SECRET_KEY": "k" * 32}
    tls = tmp_path / "tls"
    server = subprocess.Popen(
        # Two worker processes, as a unit's server runs: each builds the application from the
        # settings it is handed, HTTPS (and its HSTS header) included.
        [rxtrace, "serve", "--port", str(port), "--workers", "2",
         "--tls-cert", str(tls / "server.pem"), "--tls-key", str(tls / "server-key.pem")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        trusting = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
        for host in ("localhost", "127.0.0.1"):
            answer = None
            for _ in range(100):
                try:
                    answer = urllib.request.urlopen(
                        f"https://{host}:{port}/api/health", context=trusting, timeout=5
                    )
                    break
                except (ConnectionError, urllib.error.URLError) as exc:
                    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, ssl.SSLError):
                        raise
                    time.sleep(0.2)
            assert answer is not None and answer.status == 200
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
        # A client that does not trust the unit's authority is refused.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(
                f"https://localhost:{port}/api/health", context=ssl.create_default_context()
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
