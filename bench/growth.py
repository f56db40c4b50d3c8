"""Growth: one question's page as its history grows from 10 to 10,000 snapshots.

    .venv/bin/python bench/growth.py --db fs_bench_growth [--sizes 10,1000,10000] [--repeat 30]

For each size a fresh database holds one question with that many six-hourly
rounds (four model runs and a snapshot each). The page is rendered through
Django's test client with production settings and the page cache off, the
trajectory cache cleared before every request, so each figure is the full
cost of rendering from the database. Flat means the time and the query
count at 10,000 snapshots are those at 10.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, machine, make_data, site_env  # noqa: E402

PATHS = {
    "question page": "/questions/bench-1/",
    "trajectory fragment (HTMX)": "/questions/bench-1/trajectory/",
    "trajectory JSON": "/questions/bench-1/trajectory.json",
}


def measure(repeat):
    """Runs inside a child process whose environment points at the database to measure."""
    import django

    django.setup()
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from forecasts.models import Snapshot

    client = Client(HTTP_HOST="127.0.0.1")
    out = {"snapshots": Snapshot.objects.count()}
    for name, path in PATHS.items():
        headers = {"HX-Request": "true"} if "HTMX" in name else {}
        times = []
        for i in range(repeat + 3):
            cache.clear()
            begun = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - begun) * 1000
            assert response.status_code == 200, (path, response.status_code)
            if i >= 3:  # the first ones warm up templates and connections
                times.append(elapsed)
        out[name] = {
            "median_ms": statistics.median(times),
            "queries": len(queries),
            "bytes": len(response.content),
        }
    print(json.dumps(out))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="fs_bench_growth")
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.measure:
        return measure(args.repeat)

    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        days = (size - 1) / 4  # rounds every six hours, both ends included
        make_data(args.db, 1, days, resolved_share=0)
        env = site_env(args.db, "", PAGE_CACHE_SECONDS=0)
        out = subprocess.run(
            [PYTHON, "bench/growth.py", "--measure", "--repeat", str(args.repeat)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))

    print(f"### Growth (one question; page cache off, caches cleared per request; {machine()})\n")
    header = "| snapshots | " + " | ".join(f"{name} ms / queries" for name in PATHS) + " |"
    print(header)
    print("|---:|" + "---:|" * len(PATHS))
    for r in results:
        cells = " | ".join(f"{r[name]['median_ms']:.1f} / {r[name]['queries']}" for name in PATHS)
        print(f"| {r['snapshots']:,} | {cells} |")
    first, last = results[0], results[-1]
    for name in PATHS:
        growth = last[name]["median_ms"] / first[name]["median_ms"]
        dq = last[name]["queries"] - first[name]["queries"]
        print(
            f"- {name}: {growth:.2f}x the time and {dq:+d} queries from {first['snapshots']:,} "
            f"to {last['snapshots']:,} snapshots"
        )
    return results


if __name__ == "__main__":
    main()
