"""Names of PostgreSQL advisory locks: one stable key per step, whoever takes it.

>>> advisory_key("migrate") == advisory_key("migrate") > 0
True
"""

from __future__ import annotations

import hashlib

__all__ = ["advisory_key"]


def advisory_key(step: str) -> int:
    """A stable 63-bit key for the step's name (Python's own hash() changes per process), so
    every process that takes ``step``'s lock takes the same one."""
    return int.from_bytes(hashlib.sha256(f"rxtrace:{step}".encode()).digest()[:8], "big") >> 1
