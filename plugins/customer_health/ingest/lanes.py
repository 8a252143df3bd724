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

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from datetime import date
from queue import SimpleQueue
from typing import TypeVar

import psycopg
import structlog

from customer_health.ingest.landing import LandingFile

FIRST_OF_THE_DAY = "customers"
Outcome = TypeVar("Outcome")
log = structlog.get_logger(__name__)


def plan_rounds(files: list[LandingFile]) -> list[list[list[LandingFile]]]:
    """Rounds run one after another; a round's lanes run side by side, each lane's files in
    the order given. Per day, in date order: a round of its customers files, then a round
    with a lane per other entity."""
    days: dict[date, list[LandingFile]] = {}
    for landing in files:
        days.setdefault(landing.logical_date, []).append(landing)
    rounds: list[list[list[LandingFile]]] = []
    for day in sorted(days):
        customers = [f for f in days[day] if f.entity.name == FIRST_OF_THE_DAY]
        lanes: dict[str, list[LandingFile]] = {}
        for landing in days[day]:
            if landing.entity.name != FIRST_OF_THE_DAY:
                lanes.setdefault(landing.entity.name, []).append(landing)
        if customers:
            rounds.append([customers])
        if lanes:
            rounds.append(list(lanes.values()))
    return rounds


def load_in_lanes(
    conn: psycopg.Connection,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]],
    connections: int,
    files: list[LandingFile],
    load: Callable[[psycopg.Connection, LandingFile], Outcome],
) -> Iterator[tuple[LandingFile, Outcome]]:
    """``load`` each file on ``conn`` or on one of up to ``connections - 1`` more that
    ``connect`` opens (no more than a round has lanes), yielding each round's outcomes in
    the files' order once the round is done. ``load`` returns its outcome, a file's errors
    included; anything it raises stops every lane after its current file, and the first
    such error in the round ends the load."""
    rounds = plan_rounds(files)
    wanted = min(connections, max((len(lanes) for lanes in rounds), default=1))
    position = {landing.path: n for n, landing in enumerate(files)}
    stop = threading.Event()
    idle: SimpleQueue[psycopg.Connection] = SimpleQueue()
    with ExitStack() as stack:
        for loader in [conn, *(stack.enter_context(connect()) for _ in range(wanted - 1))]:
            idle.put(loader)

        def run_lane(lane: list[LandingFile]) -> list[tuple[LandingFile, Outcome]]:
            loader = idle.get()
            done = []
            try:
                for landing in lane:
                    if stop.is_set():
                        break
                    done.append((landing, load(loader, landing)))
                return done
            except BaseException as error:
                stop.set()
                log.error("loading stopped", file=lane[len(done)].path, error=repr(error))
                raise
            finally:
                idle.put(loader)

        pool = stack.enter_context(ThreadPoolExecutor(wanted))
        try:
            for lanes in rounds:
                done = [outcome for lane in pool.map(run_lane, lanes) for outcome in lane]
                yield from sorted(done, key=lambda outcome: position[outcome[0].path])
        except BaseException:
            stop.set()  # the lanes still running end after their current file
            raise
