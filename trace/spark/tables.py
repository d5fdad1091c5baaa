"""Where a Spark job finds the contract's tables among the folders it is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.export import EXPORTED

__all__ = ["Tables", "find_tables"]


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
