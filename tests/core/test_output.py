"""JSON written as it is made: the pieces of a streamed document join to exactly the bytes of
the same document written whole, in both layouts, whatever the chunk size."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxtrace.api import output
from rxtrace.api.output import Streamed, dumps, json_chunks

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.text(max_size=12)  # line breaks and quotes inside strings included
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1))
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
# A document: top-level keys, each value either whole or a list to be streamed.
_DOCUMENTS = st.lists(
    st.tuples(st.text(max_size=6), st.booleans(), st.lists(_VALUES, max_size=7) | _VALUES),
    max_size=5,
    unique_by=lambda item: item[0],
)


def _both(spec: list[tuple[str, bool, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document whole, and the same with its lists marked to be streamed."""
    whole = {key: value for key, _, value in spec}
    streamed = {
        key: Streamed(iter(value)) if stream and isinstance(value, list) else value
        for key, stream, value in spec
    }
    return whole, streamed


@settings(max_examples=300, deadline=None)
@given(spec=_DOCUMENTS, chunk=st.integers(1, 4), indent=st.booleans())
def test_streamed_bytes_equal_whole_bytes(
    spec: list[tuple[str, bool, Any]], chunk: int, indent: bool
) -> None:
    whole, streamed = _both(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(output, "_CHUNK", chunk)
        pieces = b"".join(json_chunks(streamed, indent=indent))
    assert pieces == dumps(whole, indent=indent)


def test_values_json_lacks_are_written_as_dumps_writes_them() -> None:
    items = [{"fund": Decimal("12.50"), "at": datetime(2025, 7, 1, 8, 5)}, "a\nb"]
    pieces = b"".join(json_chunks({"codes": Streamed(iter(items)), "n": 2}))
    assert orjson.loads(pieces) == {
        "codes": [{"fund": "12.50", "at": "2025-07-01T08:05:00+08:00"}, "a\nb"],
        "n": 2,
    }


def test_a_document_without_streamed_lists_is_written_in_one_piece() -> None:
    assert list(json_chunks({"a": [1, 2]})) == [dumps({"a": [1, 2]})]
    assert list(json_chunks([1, 2], indent=False)) == [b"[1,2]"]
