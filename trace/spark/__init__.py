"""The batch jobs on Apache Spark: the same answers as the embedded commands, on a cluster.

They read the stored tables as ``rxtrace export --parquet`` writes them (one folder per
contract table, sales partitioned by month), or the contract's own files (CSV in UTF-8 or
GB18030, JSON Lines), converted on the executors by the load's own functions
(:mod:`rxtrace.trace.spark.contract`), and compute with the very functions the embedded path
uses: Spark joins the few rows a job needs out of all sales (never collecting sales to
the driver), and the answer, sized by the seized boxes, is made by the shared code. The leads
run the embedded rules' own SQL on Spark SQL (:class:`SparkSql`). Needs the
``spark`` extra (``pip install 'rxtrace[spark]'``) and a Java runtime.
"""

from rxtrace.trace.spark.contract import Sources, TableCount, contract_tables, find_sources
from rxtrace.trace.spark.leads import SparkSql, spark_leads
from rxtrace.trace.spark.resolve import SparkLookups, spark_resolve
from rxtrace.trace.spark.session import SparkUnavailableError, spark_session
from rxtrace.trace.spark.tables import Tables, find_tables

__all__ = [
    "Sources",
    "SparkLookups",
    "SparkSql",
    "SparkUnavailableError",
    "TableCount",
    "Tables",
    "contract_tables",
    "find_sources",
    "find_tables",
    "spark_leads",
    "spark_resolve",
    "spark_session",
]
