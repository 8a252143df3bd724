"""Cut a CSV file into byte ranges that separate COPY streams can load side by side.

A cut must fall on a record boundary, a newline outside quoted fields, and each range must
know the line number of its first record so that quarantine rows and error messages name
the line of the whole file. Quotes decide both: a newline is a boundary when an even
number of quote characters precede it (an escaped quote is doubled, so it keeps the
parity). Counting is vectorised: a byte scan for files without quotes, numpy otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

CHUNK = 1 << 20
QUOTE, NEWLINE = ord('"'), ord("\n")


@dataclass(frozen=True)
class Segment:
    start: int  # byte offset of its first record
    end: int | None  # byte offset after its last record; None: to the end of the file
    first_line: int  # record number of its first record, the header being line 1
    lines_before: int  # physical lines before it, to translate COPY's own line numbers


WHOLE_FILE = Segment(0, None, 2, 0)


def _newlines_outside_quotes(data: bytes, in_quotes: bool) -> tuple[np.ndarray, bool]:
    """Offsets of the record-ending newlines in ``data``, and whether it ends inside quotes."""
    raw = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(raw == NEWLINE)
    if data.find(b'"') < 0:
        return (newlines[:0] if in_quotes else newlines), in_quotes
    quotes_before = np.cumsum(raw == QUOTE, dtype=np.int64)
    parity = (quotes_before[newlines] + in_quotes) % 2
    return newlines[parity == 0], bool((int(quotes_before[-1]) + in_quotes) % 2)


def plan_segments(handle: BinaryIO, size: int, parts: int) -> list[Segment]:
    """``parts`` ranges of about equal size, each cut at the first record boundary after its
    share; fewer when the file has no boundary there (one huge record, or CR-only lines).
    Reads the file up to the last cut only."""
    targets = [size * k // parts for k in range(1, parts)]
    segments: list[Segment] = []
    start, first_line, lines_before = 0, 2, 0
    offset, records, lines, in_quotes = 0, 0, 0, False
    while targets and (chunk := handle.read(CHUNK)):
        if offset + len(chunk) <= targets[0] and not in_quotes and b'"' not in chunk:
            newlines = chunk.count(b"\n")  # no quotes: every newline ends a record
            records, lines = records + newlines, lines + newlines
            offset += len(chunk)
            continue
        ends, ends_in_quotes = _newlines_outside_quotes(chunk, in_quotes)
        cut = None
        if offset + len(chunk) > targets[0]:
            after = ends[ends >= targets[0] - offset]
            cut = int(after[0]) if len(after) else None
        if cut is None:
            records += len(ends)
            lines += chunk.count(b"\n")
        else:
            records += int((ends <= cut).sum())
            lines += chunk.count(b"\n", 0, cut + 1)
            segments.append(Segment(start, offset + cut + 1, first_line, lines_before))
            start, first_line, lines_before = offset + cut + 1, records + 1, lines
            targets.pop(0)
            handle.seek(start)
            offset, in_quotes = start, False
            continue
        offset += len(chunk)
        in_quotes = ends_in_quotes
    if start >= size:
        return segments or [WHOLE_FILE]
    segments.append(Segment(start, None, first_line, lines_before))
    return segments
