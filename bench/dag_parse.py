"""Benchmark: how long the scheduler's DAG processor takes to parse each DAG file.

The dag-processor re-parses every DAG file every few minutes, and Airflow's default budget
for one file is 30 s; the team's budget is 1 s a file, which keeps the Cosmos task group
drawn from the dbt manifest (never from running dbt). Each round parses the DAG folder in a
fresh interpreter (as a dag-processor child does) and reads Airflow's own per-file timing;
the load average is printed beside it, since the figure moves with the machine's load.
Not part of `make test` (a wall-clock budget is no test on a shared 2-core machine):

    .venv/bin/python bench/dag_parse.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from customer_health.settings import PROJECT_HOME

BUDGET_SECONDS = 1.0
PARSE = (
    "import json\n"
    "from airflow.dag_processing.dagbag import DagBag\n"
    f"bag = DagBag(dag_folder={str(PROJECT_HOME / 'dags')!r})\n"
    "assert not bag.import_errors, bag.import_errors\n"
    "print(json.dumps({s.file.rsplit('/', 1)[-1]: s.duration.total_seconds()"
    " for s in bag.dagbag_stats}))"
)


def parse_once(mode: str) -> dict[str, float]:
    env = {**os.environ, "DBT_EXECUTION_MODE": mode, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    # An unreachable warehouse: parsing must not need one.
    env["WAREHOUSE_URL"] = "postgresql://nobody:wrong@127.0.0.1:9/none?connect_timeout=1"
    result = subprocess.run(
        [sys.executable, "-c", PARSE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"| dbt execution mode | DAG file | median s | max s | budget {BUDGET_SECONDS:g} s |")
    print("|---|---|---:|---:|---|")
    for mode in ("single", "cosmos_local", "cosmos_watcher"):
        rounds = [parse_once(mode) for _ in range(args.rounds)]
        for name in sorted(rounds[0]):
            seconds = [r[name] for r in rounds]
            verdict = "within" if max(seconds) <= BUDGET_SECONDS else "OVER"
            print(
                f"| {mode} | {name} | {statistics.median(seconds):.3f} | {max(seconds):.3f} |"
                f" {verdict} |"
            )
    print(f"load average after: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
