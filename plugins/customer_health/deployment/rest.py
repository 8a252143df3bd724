"""Airflow's REST API (v2), as a user or a test drives a deployment: sign in, trigger a
night, wait for it, read its task instances, clear a failed task."""

from __future__ import annotations

import time
from datetime import date

import httpx

FINISHED = ("success", "failed")


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        token = self.client.post("/auth/token", json={"username": username, "password": password})
        token.raise_for_status()
        self.token = token.json()["access_token"]  # the UI takes it too, as the `_token` cookie
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def _json(self, method: str, path: str, **kwargs) -> dict:
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Until the dag-processor has parsed the DAG file."""
        deadline = time.monotonic() + timeout
        while self.client.get(f"/api/v2/dags/{dag_id}").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} not parsed after {timeout:.0f} s")
            time.sleep(0.5)

    def unpause(self, dag_id: str) -> None:
        self._json("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, night: date) -> str:
        """A manual run for ``night`` (its logical date at midnight UTC); returns the run id."""
        run = self._json(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": f"{night}T00:00:00Z"}
        )
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        """Until the run succeeds or fails; its final state."""
        deadline = time.monotonic() + timeout
        while (state := self.run(dag_id, run_id)["state"]) not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {state} after {timeout:.0f} s")
            time.sleep(1)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """Every task instance of the run by task id (state, try_number, hostname, …), page by
        page: the API returns at most its maximum_page_limit (100) whatever limit is asked."""
        found: dict[str, dict] = {}
        offset = 0
        while True:
            page = self._json(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 100, "offset": offset},
            )
            found.update((ti["task_id"], ti) for ti in page["task_instances"])
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                return found

    def clear_failed(self, dag_id: str, run_id: str, task_ids: list[str]) -> list[str]:
        """Clear failed tasks and what depends on them, so the run goes on from there."""
        cleared = self._json(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "only_failed": True,
                "include_downstream": True,
            },
        )
        return sorted(ti["task_id"] for ti in cleared["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log of that try, one line per event."""
        log = self._json(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        )
        return "\n".join(str(line.get("event", line)) for line in log["content"])

    def failures(self, dag_id: str, run_id: str) -> str:
        """The failed tasks of a run with the end of each one's log: what a person reads first."""
        failed = [
            ti for ti in self.task_instances(dag_id, run_id).values() if ti["state"] == "failed"
        ]
        return "\n\n".join(
            f"{ti['task_id']} (try {ti['try_number']}):\n"
            + self.task_log(dag_id, run_id, ti["task_id"], ti["try_number"])[-2000:]
            for ti in failed
        )
