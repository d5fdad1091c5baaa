"""Fixtures of the core tests beyond the suite's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session per test module (a JVM takes 10-15 s to start)."""
    from rxtrace.trace.spark import spark_session

    with spark_session("local[2]") as session:
        yield session
