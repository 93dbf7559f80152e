"""`make bench`: start a throwaway PostgreSQL server and Kafka broker, run every benchmark against
them, print the table and write `bench/results/latest.json`.

Each benchmark is also runnable alone: `python -m bench.<name>` (append, bulk_import, lead_import, relay,
projection, replay, api, freshness, timers, webhooks). BENCH_QUICK=1 runs everything at smoke-test sizes."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.common import (
    QUICK,
    RESULTS,
    Figure,
    machine,
    say,
    servers_running,
    table,
    with_every_target,
    write_results,
)

BENCHMARKS = (
    "append",
    "bulk_import",
    "lead_import",
    "relay",
    "projection",
    "replay",
    "api",
    "freshness",
    "timers",
    "webhooks",
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    default = RESULTS / ("quick.json" if QUICK else "latest.json")
    parser.add_argument("--json", type=Path, default=default, help=f"where to write the results (default {default})")
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    figures: list[Figure] = []
    seconds: dict[str, float] = {}
    failed: list[str] = []
    began = time.perf_counter()
    with servers_running() as servers:
        for name in names:
            say(f"=== {name} ===")
            started = time.perf_counter()
            try:
                module = importlib.import_module(f"bench.{name}")
                figures += module.run(servers)
            except Exception:
                traceback.print_exc()
                failed.append(name)
            seconds[name] = time.perf_counter() - started
            say(f"=== {name}: {seconds[name]:.0f} s ===")
        info = machine(servers)
    seconds["total"] = time.perf_counter() - began
    figures = with_every_target(figures, names, failed)
    print()
    print(table(figures))
    print()
    print(
        f"machine: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, Python {info['python']}, "
        f"PostgreSQL {info['postgresql']}, Kafka {info['kafka']}; total {seconds['total'] / 60:.1f} min"
    )
    write_results(args.json, figures, info, seconds)
    print(f"written: {args.json}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
