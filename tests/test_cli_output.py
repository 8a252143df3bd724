"""`customer-health run` is quiet by default: progress bars on a terminal (none here: the
output is not one), then the night's summary; `--verbose` adds dbt's log."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.helpers import NIGHT, cli, fresh_database


def _landing_rows(landing: Path) -> tuple[int, int]:
    """Files and data lines (without headers) in the landing area."""
    files = [path for path in landing.rglob("*.csv")]
    return len(files), sum(len(path.read_text().splitlines()) - 1 for path in files)


def test_a_night_from_the_cli_prints_its_summary_and_no_log(url, generated_landing):
    fresh_database(url, "cli_output")
    env = {**os.environ, "WAREHOUSE_DATABASE": "cli_output"}
    quiet = cli(env, "run", "--date", NIGHT.isoformat())
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    files, rows = _landing_rows(generated_landing)
    blank, run_line, *rest = quiet.stdout.splitlines(keepends=True)
    loaded = re.fullmatch(
        r"run manual__\S+: loaded (\d+) file\(s\) \(([\d,]+) rows, ([\d,]+) quarantined\), "
        r"skipped 0; \d+ health band drop\(s\) alerted\n",
        run_line,
    )
    assert loaded, run_line
    counts = [int(group.replace(",", "")) for group in loaded.groups()]
    assert (counts[0], counts[1] + counts[2]) == (files, rows)
    # The rest is the published summary, exactly what `summary` prints; nothing on stderr.
    assert (blank, "".join(rest), quiet.stderr) == ("\n", cli(env, "summary").stdout, "")

    verbose = cli(env, "run", "--date", NIGHT.isoformat(), "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert len(re.findall(r"^\d\d:\d\d:\d\d  Done\. PASS=", verbose.stdout, re.M)) == 1
