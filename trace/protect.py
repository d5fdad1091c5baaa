"""Sensitive fields: a keyed hash to match on and a mask to show, never the clear value.

Identity numbers, names and phone numbers arrive in the bureau's and couriers' exports. rxtrace
needs them only to tell whether two rows name the same person, so it keeps an HMAC under a
secret key (the same person matches across loads; nobody holding the database alone can test
guesses) and a masked form for display.

>>> mask_certno("310119461691164854")
'310119********4854'
>>> mask_name("居民51")
'居***'
>>> mask_phone("13812345678")
'138****5678'
>>> mask_id("310000000051")
'3100****0051'
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from rxtrace.trace.errors import RxtraceError

__all__ = [
    "Protector",
    "load_or_create_key",
    "mask_certno",
    "mask_id",
    "mask_name",
    "mask_phone",
]


def _mask(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        keep = max(1, len(value) // 3)
        return value[:keep] + "*" * (len(value) - keep)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_certno(value: str) -> str:
    """Keep the region (6) and the last 4 characters of an identity number."""
    return _mask(value, 6, 4)


def mask_name(value: str) -> str:
    """Keep the family name's first character."""
    return value[:1] + "*" * (len(value) - 1)


def mask_phone(value: str) -> str:
    return _mask(value, 3, 4)


def mask_id(value: str) -> str:
    """Mask an insured person's number (psn_no) for display: enough to tell cards apart."""
    return _mask(value, 4, 4)


class Protector:
    """Keyed hashing of sensitive values under one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise RxtraceError("The secret key must be at least 16 bytes long.")
        self._key = key
        # HMAC (RFC 2104) hashes two key blocks before each message; hashed once here, a value
        # costs only its own two hashes: a load hashes two fields of every row.
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def __reduce__(self) -> tuple[type[Protector], tuple[bytes]]:
        return Protector, (self._key,)  # hash states do not pickle; the key rebuilds them

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it, so a database refuses a different key."""
        return hashlib.sha256(b"rxtrace-key-id:" + self._key).hexdigest()[:16]

    def digest(self, value: str) -> str:
        """HMAC-SHA256 of the value as matched (stripped, upper case), 32 hex digits.

        >>> protector = Protector(b"k" * 16)
        >>> protector.digest(" 31011x ") == protector.digest("31011X")
        True
        >>> import hmac
        >>> protector.digest("31011X") == hmac.new(b"k" * 16, b"31011X", "sha256").hexdigest()[:32]
        True
        """
        inner = self._inner.copy()
        inner.update(value.strip().upper().encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:32]


def load_or_create_key(secret: str | None, key_file: Path) -> bytes:
    """The key from ``secret`` if given, else from ``key_file``, created (mode 0600) if absent."""
    if secret:
        return secret.encode("utf-8")
    if key_file.exists():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
