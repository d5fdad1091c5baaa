"""`make bundle` makes an archive that installs and loads with the network cut."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "contract" / "sample"


def _offline(*command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run with no network at all: a new, empty network namespace."""
    return subprocess.run(
        ["unshare", "-n", *command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_the_bundle_installs_and_loads_offline(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or _offline("true", cwd=tmp_path).returncode != 0:
        pytest.skip("cannot cut the network here (unshare -n needs root)")
    made = subprocess.run(
        [str(REPO / "scripts" / "bundle"), str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    archive = Path(made.stdout.strip().splitlines()[-1])
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (folder,) = (tmp_path / "unpacked").iterdir()
    assert "libzbar0" in (folder / "debian-packages.txt").read_text()
    installed = _offline(str(folder / "install.sh"), str(tmp_path / "venv"), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]
    rxtrace = str(tmp_path / "venv" / "bin" / "rxtrace")
    assert _offline(rxtrace, "--help", cwd=tmp_path).returncode == 0
    # The pages' browser libraries travel inside the wheel: no npm on the isolated machine.
    python = str(tmp_path / "venv" / "bin" / "python")
    vendored = _offline(
        python,
        "-c",
        "from rxtrace.api.web import VENDOR_DIR; print(sorted(VENDOR_DIR.rglob('*.wasm')))",
        cwd=tmp_path,
    )
    assert "zxing_reader.wasm" in vendored.stdout, vendored.stderr[-2000:]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RXTRACE_DATA_DIR": str(tmp_path / "data")}
    loaded = _offline(
        rxtrace, "load", str(SAMPLE / "institutions.csv"), "--format", "json", cwd=tmp_path, env=env
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert '"institutions"' in loaded.stdout
