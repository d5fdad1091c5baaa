"""Bulk writes store what the ORM would have stored, value for value."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Date, DateTime
from sqlalchemy.dialects import sqlite

from rxtrace.trace.store.bulk import _faster

DIALECT = sqlite.dialect()


def _pair(column_type: DateTime | Date) -> tuple[object, object]:
    impl = column_type.dialect_impl(DIALECT)
    processor = impl.bind_processor(DIALECT)
    assert processor is not None
    return processor, _faster(impl, processor)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_sqlite_datetime_text_is_sqlalchemys(value: datetime) -> None:
    slow, fast = _pair(DateTime())
    assert fast is not slow
    assert fast(value) == slow(value)  # type: ignore[operator]
    aware = value.replace(tzinfo=timezone(timedelta(hours=8)))
    assert fast(aware) == slow(aware)  # type: ignore[operator]
    assert fast(None) == slow(None)  # type: ignore[operator]


@given(st.dates())
def test_sqlite_date_text_is_sqlalchemys(value: date) -> None:
    slow, fast = _pair(Date())
    assert fast is not slow
    assert fast(value) == slow(value)  # type: ignore[operator]
    stamp = datetime(value.year, value.month, value.day, 13, 5)
    assert fast(stamp) == slow(stamp)  # type: ignore[operator]
