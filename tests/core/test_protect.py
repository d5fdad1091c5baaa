"""The keyed hash must stay HMAC-SHA256 exactly: stored hashes are matched across loads."""

from __future__ import annotations

import hmac
import pickle

from hypothesis import given
from hypothesis import strategies as st

from rxtrace.trace.protect import Protector


@given(
    key=st.binary(min_size=16, max_size=200),  # around SHA-256's 64-byte block, where keys are hashed
    value=st.text(max_size=40),
)
def test_digest_is_hmac_sha256_of_the_matched_form(key: bytes, value: str) -> None:
    expected = hmac.new(key, value.strip().upper().encode("utf-8"), "sha256").hexdigest()[:32]
    assert Protector(key).digest(value) == expected


def test_a_pickled_protector_hashes_alike() -> None:
    protector = Protector(b"s" * 40)
    assert pickle.loads(pickle.dumps(protector)).digest("310119461691164854") == protector.digest(
        "310119461691164854"
    )
