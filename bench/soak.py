"""Soak: mixed reads under wrk while rounds write, then count every row.

    .venv/bin/python bench/soak.py --db fs_bench_soak [--seconds 90] [--questions 200] [--days 60]

Builds its own database, serves it with gunicorn (page cache on, in Redis, as
deployed), and for --seconds runs at once:
- wrk with bench/mixed.lua over the home page, category pages, question
  pages, their HTMX fragments, the trajectory JSON, feeds and the API;
- a writer: `manage.py forecast --all --limit N` again and again, the panel
  answered by the replay server in --delay seconds, every round invalidating
  the readers' cache.
Afterwards: no 5xx; every round the writer started is done, with exactly one
snapshot and one model run per seat; the snapshots written equal what the
writer reported; no (question, slot) or (round, model) pair twice.
"""

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, gunicorn, log, machine, make_data, site_env, wrk  # noqa: E402

COUNTS_SQL = {
    "rounds": "SELECT count(*) FROM forecasts_round",
    "rounds_not_done": "SELECT count(*) FROM forecasts_round WHERE status <> 'done'",
    "snapshots": "SELECT count(*) FROM forecasts_snapshot",
    "model_runs": "SELECT count(*) FROM forecasts_modelrun",
    "duplicate_slots": "SELECT count(*) FROM (SELECT 1 FROM forecasts_round GROUP BY question_id, slot_at "
    "HAVING count(*) > 1) d",
    "duplicate_runs": "SELECT count(*) FROM (SELECT 1 FROM forecasts_modelrun GROUP BY round_id, model_name "
    "HAVING count(*) > 1) d",
    "duplicate_snapshots": "SELECT count(*) FROM (SELECT 1 FROM forecasts_snapshot GROUP BY round_id "
    "HAVING count(*) > 1) d",
    "done_rounds_without_snapshot": "SELECT count(*) FROM forecasts_round r WHERE r.status = 'done' AND NOT "
    "EXISTS (SELECT 1 FROM forecasts_snapshot s WHERE s.round_id = r.id)",
}


def counts(db):
    import psycopg

    from bench.common import SERVER

    with psycopg.connect(f"{SERVER}/{db}") as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in COUNTS_SQL.items()}


def point_panel_at(db, base_url, delay):
    """Four seats answered by the replay server; returns the script it should follow."""
    import psycopg

    from bench.common import SERVER

    with psycopg.connect(f"{SERVER}/{db}") as conn:
        conn.execute("UPDATE forecasts_panelmodel SET is_active = false")
        for i, letter in enumerate("ABCD"):
            conn.execute(
                "INSERT INTO forecasts_panelmodel (name, model, base_url, api_key_env, output_mode, stream, "
                "max_tokens, price_in_per_million, price_out_per_million, position, is_active) "
                "VALUES (%s, %s, %s, '', 'auto', false, 400, 0, 0, %s, true)",
                [f"Soak {letter}", f"soak-model-{letter.lower()}", base_url, 10 + i],
            )
    answer = {"probability": 0.4, "rationale": "Nothing new this round. " * 10}
    return {
        f"soak-model-{c}": [{"delay": delay, "content": json.dumps({**answer, "probability": 0.3 + 0.1 * i})}]
        for i, c in enumerate("abcd")
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="fs_bench_soak")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--days", type=float, default=60)
    parser.add_argument("--limit", type=int, default=40, help="Rounds per writer pass.")
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    make_data(args.db, args.questions, args.days)
    from replay import ReplayServer

    replay = ReplayServer(record_calls=False).start()
    replay.script = point_panel_at(args.db, replay.base_url, args.delay)
    subprocess.run(["redis-cli", "-u", args.redis, "FLUSHDB"], check=False, capture_output=True)
    env = site_env(args.db, args.redis)
    subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    writer_env = site_env(args.db, args.redis, FORECAST_LOCAL_CONCURRENCY=8)

    paths = [
        "/",
        "/?status=open",
        "hx:/?page=2",
        "/categories/ai-policy/",
        "/models/",
        "/feeds/",
        "/feeds/categories/energy/",
        "/api/v1/questions/?limit=20",
    ]
    q = args.questions
    for n in sorted({1, 2, 3, max(q // 4, 1), max(q // 2, 1), q}):
        slug = f"bench-{n}"
        paths += [
            f"/questions/{slug}/",
            f"hx:/questions/{slug}/trajectory/",
            f"/questions/{slug}/trajectory.json",
            f"hx:/questions/{slug}/track-record/",
            f"/feeds/questions/{slug}/",
        ]

    before = counts(args.db)
    reported = {"passes": 0, "rounds": 0, "snapshots": 0, "failures": 0}
    stop = threading.Event()

    def write():
        while not stop.is_set():
            done = subprocess.run(
                [PYTHON, "manage.py", "forecast", "--all", "--limit", str(args.limit)],
                cwd=ROOT,
                env=writer_env,
                capture_output=True,
                text=True,
            )
            m = re.search(r"ran (\d+) round\(s\): (\d+) snapshot", done.stdout)
            if done.returncode != 0 or not m:
                reported["failures"] += 1
                log(f"writer pass failed: {done.stderr[-500:]}")
                continue
            reported["passes"] += 1
            reported["rounds"] += int(m.group(1))
            reported["snapshots"] += int(m.group(2))
            time.sleep(1.0)  # a new second, so the next manual rounds get a new slot

    with gunicorn(env, workers=args.workers) as base:
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        result = wrk(
            base + "/",
            args.seconds,
            args.connections,
            1,
            script=ROOT / "bench" / "mixed.lua",
            extra_args=paths,
        )
        stop.set()
        writer.join(timeout=120)
    replay.stop()
    after = counts(args.db)
    s5 = int(re.search(r"STATUS5XX (\d+)", result["raw"]).group(1))
    s4 = int(re.search(r"STATUS4XX (\d+)", result["raw"]).group(1))
    delta = {k: after[k] - before[k] for k in ("rounds", "snapshots", "model_runs")}
    checks = {
        "no 5xx": s5 == 0,
        "no 4xx": s4 == 0,
        "no socket errors": result["errors"] == 0,
        "writer passes all succeeded": reported["failures"] == 0,
        "every new round is done": after["rounds_not_done"] == 0,
        "one snapshot per new round": delta["snapshots"] == delta["rounds"],
        "snapshots written = snapshots the writer reported": delta["snapshots"] == reported["snapshots"],
        "rounds created = rounds the writer reported": delta["rounds"] == reported["rounds"],
        "four model runs per new round": delta["model_runs"] == 4 * delta["rounds"],
        "no duplicate (question, slot), (round, model) or snapshot": after["duplicate_slots"]
        + after["duplicate_runs"]
        + after["duplicate_snapshots"]
        == 0,
        "no done round without its snapshot": after["done_rounds_without_snapshot"] == 0,
    }
    summary = {
        "machine": machine(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "reads": {k: v for k, v in result.items() if k != "raw"} | {"4xx": s4, "5xx": s5},
        "writer": reported,
        "before": before,
        "after": after,
        "checks": checks,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    print(
        f"### Soak ({args.seconds} s; {len(paths)} URLs, wrk -c{args.connections}; gunicorn -w {args.workers}; "
        f"writer `forecast --all --limit {args.limit}` looping, {args.delay * 1000:.0f} ms answers; {machine()})\n"
    )
    print(
        f"- reads: {result['requests']:,} requests, {result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms; 5xx: {s5}, 4xx: {s4}, socket errors: {result['errors']}"
    )
    print(
        f"- writes: {reported['passes']} writer passes, {delta['rounds']} rounds, {delta['snapshots']} snapshots, "
        f"{delta['model_runs']} model runs (writer reported {reported['rounds']} rounds, "
        f"{reported['snapshots']} snapshots)"
    )
    for name, ok in checks.items():
        print(f"- {'ok  ' if ok else 'FAIL'} {name}")
    return summary


if __name__ == "__main__":
    main()
