"""What the Spark tests share: when they can run, and the resolution document they compare."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from rxtrace.api.documents import resolution_document
from rxtrace.api.output import json_chunks
from rxtrace.trace.resolve.service import Resolution

needs_spark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
    reason="Spark needs the spark extra and a Java runtime",
)


def written(resolution: Resolution) -> str:
    """The JSON document both commands print."""
    return b"".join(json_chunks(resolution_document(resolution, reveal=False, top=10))).decode()
