"""A Spark session for rxtrace's jobs, local or on a cluster, fetching nothing from anywhere."""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rxtrace.trace.errors import RxtraceError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkUnavailableError", "spark_session"]

_MASTER = re.compile(r"^(local(\[(\d+|\*)\])?|spark://[\w.\-]+(:\d+)?(,[\w.\-]+(:\d+)?)*)$")


class SparkUnavailableError(RxtraceError):
    """Spark cannot run here: the extra is not installed, or no Java runtime."""


@contextmanager
def spark_session(master: str = "local[2]", *, app_name: str = "rxtrace") -> Iterator[SparkSession]:
    """A session on ``master`` (``local[N]`` or ``spark://HOST:PORT``), stopped afterwards.

    In local mode the driver binds to 127.0.0.1 unless ``SPARK_LOCAL_IP`` says otherwise: an
    isolated machine's own name often resolves to nothing. Times are read and written as the
    sales' own wall-clock times (UTC session zone, no shift), and the web UI stays off.
    """
    if not _MASTER.match(master):
        raise RxtraceError(
            f"Failed to parse '{master}' as a Spark master: use local[N] or spark://HOST:PORT."
        )
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError(
            "Spark jobs need the spark extra: pip install 'rxtrace[spark]' (and a Java runtime)."
        ) from exc
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailableError(
            "Spark needs a Java runtime (17 or newer): none on PATH, JAVA_HOME unset."
        )
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Contract files are converted by rxtrace's own code in Python workers: they must run this
    # interpreter, where rxtrace is installed, not whatever ``python3`` is first on the PATH
    # (on a cluster, the same installation at the same path on every node, or PYSPARK_PYTHON).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark warns about pandas 3 on import; these jobs use no pandas API of it.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    session = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8" if master.startswith("local") else "200")
        .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
