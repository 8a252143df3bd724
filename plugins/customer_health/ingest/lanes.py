"""Which landing files may load side by side, and which must wait for others.

A first night loads a year of files, 2,555 of them, and a small file costs more in catalog
work and round trips (creating, checking and attaching its partition, writing its ledger
row) than in rows. One connection leaves the server's second core idle while the loader's
Python prepares the next statement, so files of different entities load on connections of
their own.

Two kinds of order still hold, so the outcome is the one-at-a-time load's:

- A day's customers files load before the day's other files, which the "unknown customer"
  rule checks against the customers known so far; a day starts when the day before has
  finished, so no file sees a later day's customers.
- The files of one entity load one after another: the checks that compare a file with the
  entity's other loaded files (the same bytes under another name, rows repeated from a
  file of the same day) would miss a twin loading at the same moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from queue import SimpleQueue
from typing import TypeVar

import psycopg

from customer_health.ingest.landing import LandingFile

FIRST_OF_THE_DAY = "customers"
Outcome = TypeVar("Outcome")


def plan_rounds(files: list[LandingFile]) -> list[list[list[LandingFile]]]:
    """Rounds run one after another; a round's lanes run side by side, each lane's files in
    order. Files in load order (by date, then entity) give, per day, a round of its
    customers files, then a round with a lane per other entity."""
    rounds: list[list[list[LandingFile]]] = []
    for _, day in groupby(files, key=lambda landing: landing.logical_date):
        day_files = list(day)
        customers = [f for f in day_files if f.entity.name == FIRST_OF_THE_DAY]
        others = [f for f in day_files if f.entity.name != FIRST_OF_THE_DAY]
        if customers:
            rounds.append([customers])
        lanes = [list(lane) for _, lane in groupby(others, key=lambda f: f.entity.name)]
        if lanes:
            rounds.append(lanes)
    return rounds


def load_in_lanes(
    connections: Iterable[psycopg.Connection],
    files: list[LandingFile],
    load: Callable[[psycopg.Connection, LandingFile], Outcome],
) -> Iterable[tuple[LandingFile, Outcome]]:
    """``load`` each file on one of ``connections`` (one lane per connection at a time),
    yielding each round's outcomes in the files' order once the round is done. ``load``
    returns its outcome, errors included: one file's failure does not stop the others."""
    idle: SimpleQueue[psycopg.Connection] = SimpleQueue()
    count = 0
    for conn in connections:
        idle.put(conn)
        count += 1
    position = {landing.path: n for n, landing in enumerate(files)}

    def run_lane(lane: list[LandingFile]) -> list[tuple[LandingFile, Outcome]]:
        conn = idle.get()
        try:
            return [(landing, load(conn, landing)) for landing in lane]
        finally:
            idle.put(conn)

    with ThreadPoolExecutor(count) as pool:
        for lanes in plan_rounds(files):
            done = [outcome for lane in pool.map(run_lane, lanes) for outcome in lane]
            yield from sorted(done, key=lambda outcome: position[outcome[0].path])
