"""Where a Spark job finds the contract's tables among the folders it is given."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.export import EXPORTED

__all__ = ["Started", "Tables", "arrow_columns", "fetched", "find_tables"]

_R = TypeVar("_R", bound=tuple[Any, ...])


def fetched(frame: Any) -> list[tuple[Any, ...]]:
    """The rows of a Spark DataFrame as tuples, brought to the driver as Arrow columns.

    ``collect()`` pickles every row in the JVM and builds a ``Row`` of each in Python: 4.8-6.0 s
    for a million rows of two strings here, against 0.8-0.9 s through Arrow. Values are the
    ones ``collect()`` gives (see :func:`arrow_columns`).
    """
    columns = arrow_columns(frame.toArrow())
    return list(zip(*columns, strict=True)) if columns else []


def arrow_columns(table: Any) -> list[list[Any]]:
    """The columns of a pyarrow table as Python lists, the values ``collect()`` gives: the
    contract's times (no zone) as they are, a time with a zone in this process's local time
    without one. A caller that makes its own objects of the rows builds them from these
    (``map(Cls, *columns)``) rather than from :func:`fetched`'s tuples, made only to be taken
    apart again."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        values = column.to_pylist()
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            values = [v if v is None else v.astimezone().replace(tzinfo=None) for v in values]
        columns.append(values)
    return columns


@dataclass(frozen=True)
class Started(Generic[_R]):
    """A job started ahead for the keys ``covered``: its rows, each with its key first.

    A later question takes its answer from here when the job covers every key it asks about,
    rather than paying for a Spark job of its own (a second or two in local mode, whatever
    its size).

    >>> done: Future[list[tuple[str, int]]] = Future()
    >>> done.set_result([("a", 1), ("b", 2), ("a", 3)])
    >>> started = Started({"a", "b"}, done)
    >>> started.rows_of(["a"])
    [('a', 1), ('a', 3)]
    >>> started.rows_of(["a", "c"]) is None
    True
    """

    covered: set[str]
    future: Future[list[_R]]

    def rows_of(self, keys: Collection[str]) -> list[_R] | None:
        """The rows of ``keys``, in the job's order; None when the job does not cover them."""
        if not self.covered.issuperset(keys):
            return None
        wanted = set(keys)
        return [row for row in self.future.result() if row[0] in wanted]


@dataclass(frozen=True)
class Tables:
    """The Parquet folder of each contract table found (contract name -> folder), and the
    tables read from contract files (contract name -> Spark DataFrame, see
    :func:`rxtrace.trace.spark.contract.contract_tables`)."""

    folders: dict[str, Path] = field(default_factory=dict)
    frames: dict[str, Any] = field(default_factory=dict, repr=False)

    def has(self, name: str) -> bool:
        """Whether table ``name`` was given, as Parquet or as contract files."""
        return name in self.folders or name in self.frames

    def require(self, *names: str) -> None:
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise RxtraceError(
                f"No '{missing[0]}' table among the paths given: give its contract files, the "
                f"folder `rxtrace export --parquet` wrote, or its '{missing[0]}' folder."
            )


def find_tables(paths: Sequence[Path]) -> Tables:
    """Each path is an export's folder (holding one folder per table) or one table's folder
    (named as the contract names it). A table found twice is refused: it would count twice.

    >>> find_tables([])
    Tables(folders={})
    """
    folders: dict[str, Path] = {}

    def add(name: str, folder: Path) -> None:
        if name in folders and folders[name] != folder:
            raise RxtraceError(f"The '{name}' table is given twice: {folders[name]} and {folder}.")
        folders[name] = folder

    for path in paths:
        if not path.is_dir():
            raise RxtraceError(
                f"{path} is not a folder: give Parquet folders as `rxtrace export` writes them."
            )
        if path.name in EXPORTED:
            add(path.name, path)
            continue
        inside = [path / name for name in EXPORTED if (path / name).is_dir()]
        if not inside:
            raise RxtraceError(
                f"{path} holds no contract table: expected folders named {', '.join(EXPORTED)}."
            )
        for folder in inside:
            add(folder.name, folder)
    return Tables(folders)
