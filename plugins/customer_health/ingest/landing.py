"""Finding landing files: ``<root>/<source>/<yyyy-mm-dd>/<entity>[-suffix].csv|.csv.gz|.parquet``.

The root may be a local folder or any fsspec URL (``s3://…``, ``memory://…``), so the same
code reads a laptop's files and a bucket. Every entry of the landing area up to the night
is accounted for: a loadable file, or a rejected entry with the reason it cannot be loaded
(an odd name, a directory, a link, an unknown source), which the night records in the
ledger; nothing is passed over in silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from typing import IO

import fsspec

from customer_health.ingest.contracts import ENTITIES, LOAD_ORDER, Entity

# The entity, then an optional suffix after a dash: anything printable but a slash.
FILE_NAME = re.compile(r"^(?P<entity>[a-z_]+)(?:-[^/\x00-\x1f\x7f]*)?\.(?:csv|csv\.gz|parquet)$")
NAME_RULE = "<entity>[-suffix].csv, .csv.gz or .parquet"
SOURCES = tuple(sorted({e.source for e in ENTITIES}))


@dataclass(frozen=True)
class LandingFile:
    root: str
    path: str  # relative to the root: the file's identity in the ledger
    entity: Entity
    logical_date: date

    @property
    def url(self) -> str:
        return f"{self.root.rstrip('/')}/{self.path}"


@dataclass(frozen=True)
class RejectedEntry:
    """An entry of the landing area that is not a loadable file, and why."""

    path: str  # relative to the root
    reason: str
    source: str | None = None
    logical_date: date | None = None

    @property
    def message(self) -> str:
        """As the ledger and the night's error state it, like a file the loader rejects."""
        return f"{self.path}: {self.reason}"


@dataclass
class Landing:
    files: list[LandingFile] = field(default_factory=list)
    rejected: list[RejectedEntry] = field(default_factory=list)
    ignored: int = 0  # entries matching the ignore patterns (job markers, hidden files)


def open_binary(landing: LandingFile) -> IO[bytes]:
    return fsspec.open(landing.url, "rb").open()


def discover(root: str, up_to: date, ignore: tuple[str, ...] = ()) -> Landing:
    """Every landing entry dated up to ``up_to``: the files in load order (by date,
    customers first), and every other entry with the reason it cannot be loaded, but those
    whose name matches an ``ignore`` pattern. Folders dated after ``up_to`` are not due yet
    and are not looked into; a root that does not exist yet holds nothing."""
    fs, base = fsspec.core.url_to_fs(root)
    base = base.rstrip("/")
    landing = Landing()
    if not fs.exists(base):
        return landing
    for top in _entries(fs, base, "", landing):
        name = _name(top)
        if _ignored(name, ignore, landing):
            continue
        if not _is_folder(top) or name not in SOURCES:
            expected = f"expected one of {', '.join(SOURCES)}"
            landing.rejected.append(RejectedEntry(name, f"not a source folder ({expected})"))
            continue
        for folder in _entries(fs, top["name"], name, landing):
            _survey_day(fs, root, name, folder, up_to, ignore, landing)
    landing.files.sort(key=lambda f: (f.logical_date, LOAD_ORDER[f.entity.name], f.path))
    landing.rejected.sort(key=lambda r: r.path)
    return landing


def _survey_day(
    fs, root: str, source: str, folder: dict, up_to: date, ignore: tuple[str, ...], landing
) -> None:
    day_text = _name(folder)
    relative = f"{source}/{day_text}"
    if _ignored(day_text, ignore, landing):
        return
    try:
        day = date.fromisoformat(day_text) if re.fullmatch(r"\d{4}-\d\d-\d\d", day_text) else None
    except ValueError:
        day = None
    if day is None or not _is_folder(folder):
        landing.rejected.append(
            RejectedEntry(relative, "not a yyyy-mm-dd date folder", source=source)
        )
        return
    if day > up_to:
        return
    for entry in _entries(fs, folder["name"], relative, landing, source, day):
        path = f"{relative}/{_name(entry)}"
        if _ignored(_name(entry), ignore, landing):
            continue
        reason = _unloadable(entry, source)
        if reason:
            landing.rejected.append(RejectedEntry(path, reason, source, day))
        else:
            entity = _entity(source, FILE_NAME.match(_name(entry)).group("entity"))
            landing.files.append(LandingFile(root, path, entity, day))


def _ignored(name: str, ignore: tuple[str, ...], landing: Landing) -> bool:
    if any(fnmatchcase(name, pattern) for pattern in ignore):
        landing.ignored += 1
        return True
    return False


def _is_folder(entry: dict) -> bool:
    """A real folder: links to folders are not followed either."""
    return entry["type"] == "directory" and not entry.get("islink")


def _unloadable(entry: dict, source: str) -> str | None:
    """Why a day folder's entry cannot be loaded, or None when it is a landing file."""
    name = _name(entry)
    if entry.get("islink"):
        return "a symbolic link: links are not followed, land the file itself"
    if entry["type"] == "directory":
        return "a directory, not a file"
    if entry["type"] != "file":
        return "a special file (a socket, pipe or device), not a file"
    match = FILE_NAME.match(name)
    if not match:
        return f"file name does not follow {NAME_RULE}"
    if _entity(source, match.group("entity")) is None:
        known = ", ".join(e.name for e in ENTITIES if e.source == source)
        return f"no entity {match.group('entity')!r} in source {source} (expected {known})"
    return None


def _entries(
    fs,
    path: str,
    relative: str,
    landing: Landing,
    source: str | None = None,
    day: date | None = None,
) -> list[dict]:
    """A folder's entries by name; a folder that cannot be listed is a rejected entry."""
    try:
        return sorted(fs.ls(path, detail=True), key=lambda entry: entry["name"])
    except OSError as error:
        reason = f"cannot be listed ({error.strerror or error})"
        landing.rejected.append(RejectedEntry(relative or ".", reason, source, day))
        return []


def _name(entry: dict) -> str:
    return entry["name"].rstrip("/").rsplit("/", 1)[-1]


def _entity(source: str, name: str) -> Entity | None:
    for entity in ENTITIES:
        if entity.source == source and entity.name == name:
            return entity
    return None
