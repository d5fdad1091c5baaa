"""Without the spark extra or Java, ``rxtrace spark …`` says what is missing in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.spark import SparkUnavailableError, spark_session


def test_without_pyspark_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now fails
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(SparkUnavailableError, match=r"pip install 'rxtrace\[spark\]'"), spark_session():
        pass


def test_without_java_the_runtime_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkUnavailableError, match="Java runtime"), spark_session("local[2]"):
        pass


@pytest.mark.parametrize("master", ["yarn", "local[two]", "spark://", "k8s://x"])
def test_a_master_spark_cannot_take_is_refused(master: str) -> None:
    with pytest.raises(RxtraceError, match="as a Spark master"), spark_session(master):
        pass
