"""Ingest: the data contract's files into the store. Reading (CSV in UTF-8 or GB18030, JSON
Lines, told by content, a line at a time with every line accounted for), the contract's tables
and their conversions, and :func:`load_paths`, which loads files idempotently and sets aside
what breaks the contract with its reason."""

from rxtrace.trace.ingest.batch import convert_batch
from rxtrace.trace.ingest.contract import TABLES, TableSpec, detect_table, parse_time
from rxtrace.trace.ingest.load import FileReport, LoadReport, ensure_key, expand_paths, load_paths
from rxtrace.trace.ingest.reading import FileShape, LineTally, RecordReader, sniff

__all__ = [
    "TABLES",
    "FileReport",
    "FileShape",
    "LineTally",
    "LoadReport",
    "RecordReader",
    "TableSpec",
    "convert_batch",
    "detect_table",
    "ensure_key",
    "expand_paths",
    "load_paths",
    "parse_time",
    "sniff",
]
