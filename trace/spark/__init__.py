"""The batch jobs on Apache Spark: the same answers as the embedded commands, on a cluster.

They read the stored tables as ``rxtrace export --parquet`` writes them (one folder per
contract table, sales partitioned by month) and compute with the very functions the embedded
path uses: Spark joins the few rows a job needs out of all sales (never collecting sales to
the driver), and the answer, sized by the seized boxes, is made by the shared code. Needs the
``spark`` extra (``pip install 'rxtrace[spark]'``) and a Java runtime.
"""

from rxtrace.trace.spark.resolve import SparkLookups, spark_resolve
from rxtrace.trace.spark.session import SparkUnavailableError, spark_session
from rxtrace.trace.spark.tables import Tables, find_tables

__all__ = [
    "SparkLookups",
    "SparkUnavailableError",
    "Tables",
    "find_tables",
    "spark_resolve",
    "spark_session",
]
