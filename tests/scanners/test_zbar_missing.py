"""Without the zbar system library, scanning says so in one line instead of a traceback."""

from __future__ import annotations

import subprocess
import sys


def test_a_missing_zbar_library_is_a_one_line_error() -> None:
    probe = (
        "import ctypes.util\n"
        "ctypes.util.find_library = lambda name: None\n"  # as on a machine without libzbar0
        "from rxtrace.trace.errors import MissingDependencyError\n"
        "try:\n"
        "    import rxtrace.scanners._zbar\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "apt-get install libzbar0" in done.stdout
