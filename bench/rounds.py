"""Rounds: N questions x four models against the local replay server answering in 500 ms.

    .venv/bin/python bench/rounds.py --db fs_bench_rounds [--questions 200] [--concurrency 8] [--delay 0.5]

Builds its own database (questions, no history), points the four panel seats
at a replay server whose every answer takes --delay seconds, and runs one
round per question through forecasts.services.run_rounds_locally, the
in-process twin of the Celery workers: FORECAST_LOCAL_CONCURRENCY rounds at
once, each asking its four models in parallel threads. The lower bound is
ceil(questions / concurrency) x delay. It runs the whole batch --passes times
in one process and samples RSS throughout: memory is flat when the later
passes end where the first one did.
"""

import argparse
import json
import math
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SERVER, log, machine, make_data, rss_mb  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="fs_bench_rounds")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8, help="FORECAST_LOCAL_CONCURRENCY")
    parser.add_argument("--delay", type=float, default=0.5, help="Seconds each model takes to answer.")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    make_data(args.db, args.questions, 0, resolved_share=0)
    os.environ.update(
        DATABASE_URL=f"{SERVER}/{args.db}",
        REDIS_URL="",
        CELERY_BROKER_URL="",
        DJANGO_SETTINGS_MODULE="forecastsite.settings",
        FORECAST_LOCAL_CONCURRENCY=str(args.concurrency),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.utils import timezone

    from forecasts import services
    from forecasts.models import ModelRun, PanelModel, Round, Snapshot
    from questions.models import Question
    from replay import ReplayServer

    # Bodies are not kept: only the count, so the RSS figures are the pipeline's own.
    server = ReplayServer(record_calls=False).start()
    PanelModel.objects.update(is_active=False)
    seats = []
    for i, letter in enumerate("ABCD"):
        model = f"bench-model-{letter.lower()}"
        seats.append(
            PanelModel.objects.create(
                name=f"Bench {letter}", model=model, base_url=server.base_url, position=i, max_tokens=400
            )
        )
        answer = json.dumps({"probability": 0.2 + 0.1 * i, "rationale": "A steady base rate. " * 20})
        server.script[model] = [{"delay": args.delay, "content": answer}]
    questions = list(Question.objects.forecastable().order_by("pk"))
    assert len(questions) == args.questions, len(questions)

    samples = []
    stop = threading.Event()
    pid = os.getpid()

    def sample():
        while not stop.is_set():
            samples.append((time.monotonic(), rss_mb(pid)))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # One round first, so imports and the first connections are not in the figures.
    services.run_rounds_locally([services.create_manual_round(questions[0], now=timezone.now()).pk])
    bound = math.ceil(args.questions / args.concurrency) * args.delay
    passes = []
    for n in range(args.passes):
        rss_before = rss_mb(pid)
        now = timezone.now() + timezone.timedelta(seconds=n + 1)
        round_ids = [services.create_manual_round(q, now=now).pk for q in questions]
        begun = time.monotonic()
        snapshots = services.run_rounds_locally(round_ids)
        wall = time.monotonic() - begun
        written = sum(1 for s in snapshots if s is not None)
        passes.append(
            {
                "pass": n + 1,
                "wall_s": wall,
                "bound_s": bound,
                "ratio": wall / bound,
                "snapshots": written,
                "rss_start_mb": rss_before,
                "rss_mid_mb": _rss_at(samples, begun + wall / 2),
                "rss_end_mb": rss_mb(pid),
            }
        )
        log(f"pass {n + 1}: {written} snapshots in {wall:.2f} s (bound {bound:.2f} s, {wall / bound:.2f}x)")
    stop.set()
    sampler.join()
    server.stop()
    counts = {
        "rounds": Round.objects.count(),
        "model_runs": ModelRun.objects.count(),
        "ok_runs": ModelRun.objects.ok().count(),
        "snapshots": Snapshot.objects.count(),
        "replay_calls": server.call_count,
    }
    expected = args.questions * args.passes + 1  # the warm-up round too
    summary = {"machine": machine(), "settings": {k: str(v) for k, v in vars(args).items()}, "passes": passes}
    summary["counts"] = counts
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))

    print(
        f"### Rounds ({args.questions} questions x 4 models, {args.delay * 1000:.0f} ms per answer, "
        f"FORECAST_LOCAL_CONCURRENCY={args.concurrency}; {machine()})\n"
    )
    print("| pass | wall s | lower bound s | ratio | snapshots | RSS start / middle / end MB |")
    print("|---:|---:|---:|---:|---:|---|")
    for p in passes:
        print(
            f"| {p['pass']} | {p['wall_s']:.2f} | {p['bound_s']:.2f} | **{p['ratio']:.2f}** | {p['snapshots']} | "
            f"{p['rss_start_mb']:.0f} / {p['rss_mid_mb']:.0f} / {p['rss_end_mb']:.0f} |"
        )
    worst = max(p["ratio"] for p in passes)
    growth = passes[-1]["rss_end_mb"] - passes[0]["rss_end_mb"]
    print(
        f"\n- wall time: worst pass {worst:.2f}x the lower bound (goal 1.3x) - "
        + ("met" if worst <= 1.3 else f"MISSED by {(worst - 1.3) / 1.3:.0%}")
    )
    print(f"- memory: RSS after the last pass minus after the first: {growth:+.1f} MB")
    print(
        f"- rows: {counts['rounds']} rounds, {counts['model_runs']} model runs ({counts['ok_runs']} ok), "
        f"{counts['snapshots']} snapshots for {expected} expected; {counts['replay_calls']} provider calls "
        f"for {expected * 4} expected"
    )
    return summary


def _rss_at(samples, moment):
    return min(samples, key=lambda s: abs(s[0] - moment))[1] if samples else 0.0


if __name__ == "__main__":
    main()
