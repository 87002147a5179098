"""Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`) with canned series."""

import time
from typing import Any

from tests.fakes.server import FakeServer, Recorded, Reply


class FakePrometheus(FakeServer):
    """Answers every expression with `series`: a list of (labels, value) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.series: list[tuple[dict[str, str], float]] = []

    def error_body(self, status: int) -> Any:
        return {"status": "error", "errorType": "unavailable", "error": f"HTTP {status}"}

    def handle(self, req: Recorded) -> Reply:
        now = time.time()
        if req.path == "/api/v1/query":
            result = [
                {"metric": labels, "value": [now, str(value)]} for labels, value in self.series
            ]
            return Reply(
                200, {"status": "success", "data": {"resultType": "vector", "result": result}}
            )
        if req.path == "/api/v1/query_range":
            start, end = float(req.args["start"]), float(req.args["end"])
            steps = [start + i * 60 for i in range(int((end - start) // 60) + 1)]
            result = [
                {
                    "metric": labels,
                    "values": [
                        [t, str(value * (0.9 + 0.1 * i / len(steps)))] for i, t in enumerate(steps)
                    ],
                }
                for labels, value in self.series
            ]
            return Reply(
                200, {"status": "success", "data": {"resultType": "matrix", "result": result}}
            )
        return Reply(404, {"status": "error", "error": "not found"})
