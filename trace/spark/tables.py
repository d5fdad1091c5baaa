"""Where a Spark job finds the contract's tables among the folders it is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.export import EXPORTED

__all__ = ["Tables", "find_tables"]


@dataclass(frozen=True)
class Tables:
    """The Parquet folder of each contract table found (contract name -> folder)."""

    folders: dict[str, Path] = field(default_factory=dict)

    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self.folders]
        if missing:
            raise RxtraceError(
                f"No '{missing[0]}' table among the folders given: give the folder "
                f"`rxtrace export --parquet` wrote, or its '{missing[0]}' folder."
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
