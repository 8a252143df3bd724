"""Run a benchmark step in a child process and measure it: wall time and peak memory.

A step in a process of its own has a peak RSS that is its own; ru_maxrss would carry the
parent's peak across exec, so the tree (the child and its children, such as psql) is sampled.
A process between fork and exec is left out: it shares or copies its parent's memory, and its
RSS is its parent's counted again (an SF 3 first night of 396 MiB was once reported as 780
MiB, sampled as dbt started a helper process).
"""

from __future__ import annotations

import subprocess
import time

import psutil

SAMPLE_SECONDS = 0.02


def run_measured(argv: list[str], env: dict[str, str], what: str) -> tuple[float, float]:
    """Run ``argv``; return (wall seconds, peak RSS MiB of its process tree). A failed step
    stops the benchmark, naming ``what`` failed."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env)
    tree, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            peak = max(peak, _tree_rss(tree))
        except psutil.Error:
            pass
        time.sleep(SAMPLE_SECONDS)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{what} failed (exit {child.returncode})")
    return elapsed, peak / 2**20


def _tree_rss(root: psutil.Process) -> int:
    """RSS of ``root`` and of every descendant that runs a program of its own (one that has
    not exec'd yet still shows its parent's command line). A descendant that is gone, or a
    zombie, has no memory to count."""
    total = root.memory_info().rss
    for process in root.children(recursive=True):
        try:
            parent = process.parent()
            if parent is None or process.cmdline() != parent.cmdline():
                total += process.memory_info().rss
        except psutil.Error:
            continue
    return total
