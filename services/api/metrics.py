"""Request counts and latencies per method, route and status, and the event log and read-model
positions, rendered in the Prometheus text format for `GET /metrics`."""

from __future__ import annotations

import threading


class Metrics:
    """Request counts and latency sums per method, route and status, in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            entry = self._requests.setdefault((method, route, str(status)), [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def render(self, head_position: int, projection_positions: dict[str, int] | None = None) -> str:
        with self._lock:
            rows = sorted(self._requests.items())
        lines = [
            "# HELP crm_events_appended_total Events appended to the event log (its head position).",
            "# TYPE crm_events_appended_total counter",
            f"crm_events_appended_total {head_position}",
        ]
        if projection_positions is not None:
            positions = sorted(projection_positions.items())
            lines += [
                "# HELP crm_projection_position Log position each read model has applied up to.",
                "# TYPE crm_projection_position gauge",
            ]
            lines += [f'crm_projection_position{{projection="{name}"}} {position}' for name, position in positions]
            lines += [
                "# HELP crm_projection_lag Events appended but not yet applied, per read model.",
                "# TYPE crm_projection_lag gauge",
            ]
            lines += [
                f'crm_projection_lag{{projection="{name}"}} {max(head_position - position, 0)}'
                for name, position in positions
            ]
        lines += [
            "# HELP crm_http_requests_total HTTP requests answered, by method, route and status.",
            "# TYPE crm_http_requests_total counter",
        ]
        lines += [f"crm_http_requests_total{{{_labels(key)}}} {int(count)}" for key, (count, _) in rows]
        lines += [
            "# HELP crm_http_request_duration_seconds Time spent answering HTTP requests.",
            "# TYPE crm_http_request_duration_seconds summary",
        ]
        for key, (count, seconds) in rows:
            lines.append(f"crm_http_request_duration_seconds_sum{{{_labels(key)}}} {seconds:.6f}")
            lines.append(f"crm_http_request_duration_seconds_count{{{_labels(key)}}} {int(count)}")
        return "\n".join(lines) + "\n"


def _labels(key: tuple[str, str, str]) -> str:
    method, route, status = key

    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return f'method="{esc(method)}",route="{esc(route)}",status="{esc(status)}"'
