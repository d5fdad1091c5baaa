"""Files sent to the server: streamed to disk under the data folder and kept there as the
evidence they are (a load's export, a seizure's photos), never held whole in memory.

Each file is judged alone: a name with a path in it, a type the route does not take or a file
past the size limit is refused with its reason, and the rest of the batch goes on.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import UploadFile

__all__ = ["LOAD_SUFFIXES", "Refused", "Stored", "store_uploads"]

LOAD_SUFFIXES = frozenset({".csv", ".txt", ".tsv", ".json", ".jsonl", ".ndjson"})
_CHUNK = 1 << 20
_SAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


@dataclass(frozen=True)
class Refused:
    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.name, "reason": self.reason}


@dataclass
class Stored:
    folder: Path
    paths: list[Path] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def _clean_name(raw: str | None) -> str | Refused:
    name = raw or ""
    shown = name[:120]
    if not name or "\x00" in name:
        return Refused(shown or "(no name)", "The file has no usable name.")
    base = PureWindowsPath(PurePosixPath(name).name).name
    if base != name or base in {".", ".."}:
        return Refused(shown, "A file name may not contain a folder or '..'; send the file alone.")
    if base.startswith("."):
        return Refused(shown, "Hidden file names (starting with '.') are not taken.")
    cleaned = _SAFE.sub("_", base)[:120]
    return cleaned or Refused(shown, "The file has no usable name.")


async def store_uploads(
    files: Sequence[UploadFile],
    *,
    root: Path,
    label: str,
    suffixes: Collection[str],
    max_bytes: int,
) -> Stored:
    """Write each upload to a new folder under ``root`` (named by time, ``label`` and a random
    part, so two batches never mix); refuse per file what does not fit."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = root / f"{stamp}-{_SAFE.sub('_', label)[:40]}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True, exist_ok=False)
    stored = Stored(folder)
    taken: set[str] = set()
    for upload in files:
        name = _clean_name(upload.filename)
        if isinstance(name, Refused):
            stored.refused.append(name)
            continue
        if Path(name).suffix.lower() not in suffixes:
            stored.refused.append(
                Refused(
                    name,
                    f"Type {Path(name).suffix or '(none)'} is not taken here; "
                    f"send {', '.join(sorted(suffixes))}.",
                )
            )
            continue
        if name in taken:
            stored.refused.append(Refused(name, "A file of that name is in this batch already."))
            continue
        target = folder / name
        size = 0
        with target.open("wb") as out:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    break
                out.write(chunk)
        if size > max_bytes:
            target.unlink()
            stored.refused.append(Refused(name, f"Over the upload limit of {max_bytes // (1 << 20)} MB."))
            continue
        taken.add(name)
        stored.paths.append(target)
    return stored
