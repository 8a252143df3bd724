"""Finding landing files: ``<root>/<source>/<yyyy-mm-dd>/<entity>[-suffix].csv|.csv.gz|.parquet``.

The root may be a local folder or any fsspec URL (``s3://…``, ``memory://…``), so the same
code reads a laptop's files and a bucket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import IO

import fsspec

from customer_health.ingest.contracts import ENTITIES, LOAD_ORDER, Entity

FILE_NAME = re.compile(r"^(?P<entity>[a-z_]+)(?:-[\w.-]+)?\.(?:csv|csv\.gz|parquet)$")


@dataclass(frozen=True)
class LandingFile:
    root: str
    path: str  # relative to the root: the file's identity in the ledger
    entity: Entity
    logical_date: date

    @property
    def url(self) -> str:
        return f"{self.root.rstrip('/')}/{self.path}"


def open_binary(landing: LandingFile) -> IO[bytes]:
    return fsspec.open(landing.url, "rb").open()


def discover(root: str, up_to: date) -> list[LandingFile]:
    """Every landing file dated up to ``up_to``, in load order: by date, customers first."""
    fs, base = fsspec.core.url_to_fs(root)
    base = base.rstrip("/")
    found: list[LandingFile] = []
    for entity_source in sorted({e.source for e in ENTITIES}):
        for folder in fs.glob(f"{base}/{entity_source}/*"):
            day_text = folder.rstrip("/").rsplit("/", 1)[-1]
            try:
                day = date.fromisoformat(day_text)
            except ValueError:
                continue
            if day > up_to:
                continue
            for file_path in fs.ls(folder, detail=False):
                name = file_path.rstrip("/").rsplit("/", 1)[-1]
                match = FILE_NAME.match(name)
                entity = _entity(entity_source, match.group("entity")) if match else None
                if entity is not None:
                    found.append(
                        LandingFile(root, f"{entity_source}/{day_text}/{name}", entity, day)
                    )
    return sorted(found, key=lambda f: (f.logical_date, LOAD_ORDER[f.entity.name], f.path))


def _entity(source: str, name: str) -> Entity | None:
    for entity in ENTITIES:
        if entity.source == source and entity.name == name:
            return entity
    return None
