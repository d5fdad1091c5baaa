"""Fixtures of the core tests beyond the suite's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session per test module (a JVM takes 10-15 s to start). Its heap is
    3 GB, not half the machine's memory: the tests' worlds are small, and under ``make test``
    another worker runs beside it; left to grow, the heap reached 10 GB over a module."""
    from rxtrace.trace.spark import spark_session

    with spark_session("local[2]", conf={"spark.driver.memory": "3g"}) as session:
        yield session
