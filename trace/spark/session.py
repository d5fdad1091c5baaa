"""A Spark session for rxtrace's jobs, local or on a cluster, fetching nothing from anywhere."""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rxtrace.trace.errors import RxtraceError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkUnavailableError", "parse_conf", "session_conf", "spark_session"]

_MASTER = re.compile(r"^(local(\[(\d+|\*)\])?|spark://[\w.\-]+(:\d+)?(,[\w.\-]+(:\d+)?)*)$")
_PROPERTY = re.compile(r"^spark\.[A-Za-z0-9_.\-]+$")


class SparkUnavailableError(RxtraceError):
    """Spark cannot run here: the extra is not installed, or no Java runtime."""


def parse_conf(items: Iterable[str]) -> dict[str, str]:
    """Spark properties given as ``KEY=VALUE`` (``spark-submit --conf``'s form), later ones winning.

    >>> parse_conf(["spark.driver.memory=12g", "spark.sql.shuffle.partitions=2000"])
    {'spark.driver.memory': '12g', 'spark.sql.shuffle.partitions': '2000'}
    >>> parse_conf(["memory=12g"])
    Traceback (most recent call last):
    ...
    rxtrace.trace.errors.RxtraceError: Failed to parse 'memory=12g' as a Spark property: ...
    """
    conf: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value or not _PROPERTY.match(key):
            raise RxtraceError(f"Failed to parse '{item}' as a Spark property: expected spark.NAME=VALUE.")
        conf[key] = value
    return conf


def _half_the_memory() -> str:
    """Half this machine's physical memory, in whole GiB (at least 1), for the driver's heap."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "1g"
    return f"{max(1, total // 2 // 2**30)}g"


def session_conf(master: str, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The properties a session on ``master`` starts with: rxtrace's defaults, then ``conf``'s.

    The driver's heap defaults to half the machine's memory. Spark's own default, 1 GB, is too
    small: in local mode every task runs in the driver's JVM (the leads at 10 M sales rows ran
    out of it), and on a cluster the driver (here, in client mode) still receives the jobs'
    answers. The shuffle's partitions default to 8 in local mode (a few cores; Spark's 200 are
    mostly empty tasks there) and to Spark's 200 on a cluster, where a national run wants
    thousands: ``--conf spark.sql.shuffle.partitions=N``. In local mode the JVM collects its
    garbage with the parallel collector, not Java's default G1: a command is one batch job in a
    new JVM, where throughput counts and pauses do not (at 20 M sales, the whole commands, means
    of four rounds: the code leads 44.4 s against 48.5 s, a case resolved 23.2 s against 25.1 s,
    its hot spots 22.3 s against 25.0 s). A ``spark.driver.extraJavaOptions`` given replaces it;
    a cluster keeps its own.

    >>> defaults = session_conf("local[2]", {"spark.sql.shuffle.partitions": "3"})
    >>> defaults["spark.sql.shuffle.partitions"], defaults["spark.sql.session.timeZone"]
    ('3', 'UTC')
    >>> session_conf("spark://head:7077")["spark.sql.shuffle.partitions"]
    '200'
    >>> session_conf("local[2]", {"spark.driver.memory": "3g"})["spark.driver.memory"]
    '3g'
    >>> session_conf("local[2]")["spark.driver.extraJavaOptions"]
    '-XX:+UseParallelGC'
    >>> "spark.driver.extraJavaOptions" in session_conf("spark://head:7077")
    False
    """
    local = master.startswith("local")
    return {
        **({"spark.driver.extraJavaOptions": "-XX:+UseParallelGC"} if local else {}),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8" if local else "200",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
        "spark.driver.memory": _half_the_memory(),
        **(conf or {}),
    }


@contextmanager
def spark_session(
    master: str = "local[2]", *, app_name: str = "rxtrace", conf: Mapping[str, str] | None = None
) -> Iterator[SparkSession]:
    """A session on ``master`` (``local[N]`` or ``spark://HOST:PORT``), stopped afterwards, with
    :func:`session_conf`'s properties (``conf`` over rxtrace's defaults).

    In local mode the driver binds to 127.0.0.1 unless ``SPARK_LOCAL_IP`` says otherwise: an
    isolated machine's own name often resolves to nothing. Times are read and written as the
    sales' own wall-clock times (UTC session zone, no shift), and the web UI stays off. The
    driver's memory is taken only when this process starts its JVM: a session started earlier
    in the same process keeps its own.
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
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in session_conf(master, conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
