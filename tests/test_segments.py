"""Cutting a CSV file for parallel COPY streams: cuts fall on record boundaries, and each
part knows the record and physical line it starts at, whatever the quotes do."""

from __future__ import annotations

import io

import pytest

from customer_health.ingest import segments
from customer_health.ingest.segments import WHOLE_FILE, plan_segments

HEADER = b"id,note\n"


def body(rows: int) -> tuple[bytes, dict[int, tuple[int, int]]]:
    """A file whose every third note spans lines and holds escaped quotes, and the
    (record number, physical line) of each record by its byte offset."""
    data, starts = bytearray(HEADER), {}
    for n in range(rows):
        note = f'"line {n}\nwith ""quotes"" and, a comma\n"' if n % 3 == 0 else f"plain {n}"
        starts[len(data)] = (n + 2, data.count(b"\n") + 1)
        data += f"{n},{note}\n".encode()
    return bytes(data), starts


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_cuts_fall_on_records_and_know_their_lines(monkeypatch, parts):
    monkeypatch.setattr(segments, "CHUNK", 64)  # many chunks, cuts inside quoted fields
    data, starts = body(60)
    planned = plan_segments(io.BytesIO(data), len(data), parts)
    assert len(planned) == parts
    assert planned[0].start == 0 and planned[-1].end is None
    assert [s.end for s in planned[:-1]] == [s.start for s in planned[1:]]
    for segment in planned[1:]:
        assert segment.start in starts, segment
        assert (segment.first_line, segment.lines_before + 1) == starts[segment.start]


def test_a_file_without_a_later_boundary_stays_whole(monkeypatch):
    monkeypatch.setattr(segments, "CHUNK", 64)
    data = HEADER + b'1,"' + b"x\n" * 100 + b'"'  # one record, newlines all quoted
    assert plan_segments(io.BytesIO(data), len(data), 2) == [WHOLE_FILE]
