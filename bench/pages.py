"""Pages under gunicorn and wrk, each beside a static file of the same size from the same server.

    .venv/bin/python bench/pages.py --db fs_bench [--duration 10] [--connections 4] [--workers 2]

Two phases, one server each: the page cache on (as deployed), then off
(PAGE_CACHE_SECONDS=0: every request renders from the database). In each
phase every page is measured right after a static file holding exactly that
page's bytes, copied under STATIC_ROOT and served by whitenoise from the
same gunicorn, so the ratio compares Django's work with the server's floor.
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, fetch, gunicorn, log, machine, site_env, wrk  # noqa: E402

STATIC_DIR = ROOT / "staticfiles" / "bench"


def targets(question):
    return {
        "question page": f"/questions/{question}/",
        "home page": "/",
        "feed (RSS, all)": "/feeds/",
        "trajectory JSON": f"/questions/{question}/trajectory.json",
    }


def collectstatic(env):
    subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


def make_static_twins(env, paths, workers):
    """Copy each page's bytes into a static file of the same size; whitenoise indexes them at start."""
    if STATIC_DIR.exists():
        shutil.rmtree(STATIC_DIR)
    STATIC_DIR.mkdir(parents=True)
    twins = {}
    with gunicorn(env, workers=workers) as base:
        for name, path in paths.items():
            status, headers, body = fetch(base + path)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            twin = STATIC_DIR / f"twin-{len(twins)}.bin"
            twin.write_bytes(body)
            twins[name] = (f"/static/bench/{twin.name}", len(body))
    return twins


def measure_phase(env, paths, twins, args, label):
    rows = []
    with gunicorn(env, workers=args.workers, threads=args.threads) as base:
        for name, path in paths.items():
            static_path, size = twins[name]
            # Warm both (the first request fills the page cache when it is on).
            for url in (base + path, base + static_path):
                fetch(url)
                fetch(url)
            _, static_headers, static_body = fetch(base + static_path)
            assert len(static_body) == size
            static = wrk(base + static_path, args.duration, args.connections, args.wrk_threads)
            page = wrk(base + path, args.duration, args.connections, args.wrk_threads)
            row = {
                "phase": label,
                "page": name,
                "path": path,
                "bytes": size,
                "page_rps": page["rps"],
                "page_p50_ms": page["p50_ms"],
                "page_p99_ms": page["p99_ms"],
                "static_rps": static["rps"],
                "static_p50_ms": static["p50_ms"],
                "static_p99_ms": static["p99_ms"],
                "ratio": page["rps"] / static["rps"] if static["rps"] else 0.0,
                "non_2xx": page["non_2xx"] + static["non_2xx"],
                "socket_errors": page["errors"] + static["errors"],
            }
            log(
                f"{label:8} {name:18} {size:7} B  page {page['rps']:8.0f}/s p50 {page['p50_ms']:.2f} ms"
                f"  static {static['rps']:8.0f}/s  ratio {row['ratio']:.2f}"
            )
            rows.append(row)
    return rows


def table(rows):
    lines = [
        "| phase | page | bytes | page req/s | page p50 / p99 ms | static req/s | static p50 / p99 ms | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['phase']} | {r['page']} (`{r['path']}`) | {r['bytes']:,} | {r['page_rps']:,.0f} | "
            f"{r['page_p50_ms']:.2f} / {r['page_p99_ms']:.2f} | {r['static_rps']:,.0f} | "
            f"{r['static_p50_ms']:.2f} / {r['static_p99_ms']:.2f} | **{r['ratio']:.2f}** |"
        )
    return "\n".join(lines)


def verdicts(rows):
    out = []
    for r in rows:
        if r["phase"] == "cached":
            goal = 0.8
            ok = r["ratio"] >= goal
            out.append(
                f"- cached {r['page']}: {r['ratio']:.2f}x static (goal 0.8x) - "
                + ("met" if ok else f"MISSED by {(goal - r['ratio']) / goal:.0%}")
            )
        elif r["page"] == "question page":
            ok_ratio = r["ratio"] >= 0.2
            ok_p50 = r["page_p50_ms"] < 20
            out.append(
                f"- uncached question page: {r['ratio']:.2f}x static (goal 0.2x) - "
                + ("met" if ok_ratio else f"MISSED by {(0.2 - r['ratio']) / 0.2:.0%}")
                + f"; p50 {r['page_p50_ms']:.1f} ms (goal < 20 ms) - "
                + ("met" if ok_p50 else "MISSED")
            )
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="fs_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7", help="The cache, as in production.")
    parser.add_argument("--question", default="bench-1", help="Slug of the question page to measure.")
    parser.add_argument("--duration", type=int, default=10, help="Seconds of wrk per measurement.")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers.")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker.")
    parser.add_argument("--phases", default="cached,uncached")
    parser.add_argument("--json", type=Path, help="Write the figures here too.")
    args = parser.parse_args(argv)

    paths = targets(args.question)
    cached_env = site_env(args.db, args.redis)
    subprocess.run(["redis-cli", "-u", args.redis, "FLUSHDB"], check=False, capture_output=True)
    collectstatic(cached_env)
    twins = make_static_twins(cached_env, paths, args.workers)
    rows = []
    try:
        for phase in args.phases.split(","):
            env = cached_env if phase == "cached" else site_env(args.db, args.redis, PAGE_CACHE_SECONDS=0)
            rows += measure_phase(env, paths, twins, args, phase)
    finally:
        shutil.rmtree(STATIC_DIR, ignore_errors=True)
    summary = {
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "rows": rows,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    print(
        f"### Pages ({machine()}; gunicorn -w {args.workers} --threads {args.threads}; "
        f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s)\n"
    )
    print(table(rows))
    print()
    print(verdicts(rows))
    bad = sum(r["non_2xx"] + r["socket_errors"] for r in rows)
    print(f"\nnon-2xx responses and socket errors across all runs: {bad}")
    return rows


if __name__ == "__main__":
    main()
