"""Import Great Expectations without running the code of libraries our suites never use.

GX 1.x imports every expectation it ships when it starts. One of them, the KL-divergence
check, imports scipy.stats and altair (for charts in rendered docs). Those two take about a
second of GX's 2.5 s import on this project's machine class. Every Airflow task is a fresh
process, so every gate paid that second. None of our suites uses them.

They are imported lazily instead (the standard library's ``importlib.util.LazyLoader``): the
import makes an empty module object and the module's code runs on its first attribute
access. An expectation that does use scipy.stats still gets the whole module, a second late.

Two limits of a lazy module, harmless as the gates use them (one thread, no direct import of
a deferred module's submodule): on Python 3.11 its first use is not locked against a second
thread, and ``import scipy.stats.qmc`` before any use of ``scipy.stats`` would run that
submodule twice.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType

DEFERRED = ("scipy.stats", "altair")


class _DeferredModules(importlib.abc.MetaPathFinder):
    """Finds each of ``names`` once, on the usual path, and defers running its code."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = set(names)

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in self._names:
            return None
        self._names.discard(name)
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return None  # not a plain module on the path: imported as usual
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def import_great_expectations() -> ModuleType:
    """``great_expectations``, with the DEFERRED modules lazy if nothing imported them yet."""
    finder = _DeferredModules(name for name in DEFERRED if name not in sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        import great_expectations
    finally:
        sys.meta_path.remove(finder)
    return great_expectations
