"""Build a realistic benchmark database: questions with a year of six-hourly rounds from four models.

    .venv/bin/python bench/make_data.py --db fs_bench            # 500 questions, 365 days
    .venv/bin/python bench/make_data.py --db fs_bench --questions 50 --days 30   # a quick one

The database is dropped and created afresh on the PostgreSQL server at
--server. Questions, categories and the panel go through the ORM; the
history (rounds, model runs, snapshots) is generated inside PostgreSQL with
generate_series, so millions of rows take a minute or two instead of an hour
of Python. Snapshots are computed from the model runs with the same figures
forecasts.aggregation uses (mean, median, min, max, spread).
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CATEGORIES = [
    ("AI capabilities", "ai-capabilities"),
    ("AI policy", "ai-policy"),
    ("Compute and hardware", "compute"),
    ("Economics", "economics"),
    ("Science", "science"),
    ("Geopolitics", "geopolitics"),
    ("Energy", "energy"),
    ("Space", "space"),
]

RATIONALE = (
    "Base rates for comparable announcements suggest a modest probability; recent reporting moves it "
    "somewhat, but the resolution criteria are strict and the deadline is close enough that slippage "
    "matters. Weighing the strongest evidence on each side, I land near this figure. "
)


def log(message):
    print(f"[make_data {time.strftime('%H:%M:%S')}] {message}", flush=True)


def recreate_database(server, name):
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="fs_bench")
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument(
        "--days", type=float, default=365, help="History of every question, in days (0: none)."
    )
    parser.add_argument("--cadence", type=int, default=6, help="Hours between rounds.")
    parser.add_argument(
        "--resolved-share", type=float, default=0.15, help="Share of questions already resolved."
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    recreate_database(args.server, args.db)
    os.environ["DATABASE_URL"] = f"{args.server}/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forecastsite.settings")
    os.environ.setdefault("CELERY_BROKER_URL", "")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from forecasts.models import PanelModel
    from questions.models import Category, Question

    call_command("migrate", verbosity=0)
    log(f"migrated {args.db}")

    panel = list(PanelModel.objects.active().order_by("position")[:4])
    if len(panel) < 4:
        PanelModel.objects.all().delete()
        panel = [
            PanelModel.objects.create(name=f"Model {c}", model=f"model-{c.lower()}", position=i)
            for i, c in enumerate("ABCD")
        ]
    categories = [Category.objects.create(name=n, slug=s, order=i) for i, (n, s) in enumerate(CATEGORIES)]

    step = args.cadence * 3600
    now_ts = int(timezone.now().timestamp())
    end_ts = now_ts - now_ts % step  # the current slot, as Question.current_slot computes it
    start = timezone.datetime.fromtimestamp(end_ts - int(args.days * 86400), tz=timezone.UTC)
    end = timezone.datetime.fromtimestamp(end_ts, tz=timezone.UTC)
    resolved_every = round(1 / args.resolved_share) if args.resolved_share > 0 else 0
    questions = []
    for i in range(args.questions):
        is_resolved = resolved_every and i % resolved_every == resolved_every - 1
        questions.append(
            Question(
                title=f"Will benchmark event {i + 1} happen before its deadline?",
                slug=f"bench-{i + 1}",
                category=categories[i % len(categories)],
                background="Background for the benchmark question. " * 8,
                resolution_criteria="Resolves YES if the event is reported by two reputable sources.",
                status=Question.Status.RESOLVED if is_resolved else Question.Status.OPEN,
                outcome=(i % 3 == 0) if is_resolved else None,
                published_at=start,
                resolves_at=end + timezone.timedelta(days=180),
                resolved_at=end - timezone.timedelta(days=30) if is_resolved else None,
                cadence_hours=args.cadence,
            )
        )
    Question.objects.bulk_create(questions, batch_size=500)
    log(f"{len(questions)} questions in {len(categories)} categories")
    if args.days > 0:
        make_history(panel, start, end, args.cadence)
    log(f"done in {time.monotonic() - started:.0f} s")


def make_history(panel, start, end, cadence):
    from django.db import connection

    with connection.cursor() as cur:
        # One slot per question and cadence step; resolved questions stop at their resolution.
        cur.execute(
            """
            INSERT INTO forecasts_round (question_id, slot_at, kind, status, claimed_at, finished_at,
                                         claims, label, created_at)
            SELECT q.id, s, 'scheduled', 'done', s, s + interval '40 seconds', 1, '', s
            FROM questions_question q
            CROSS JOIN LATERAL generate_series(%s::timestamptz, COALESCE(q.resolved_at, %s::timestamptz),
                                               make_interval(hours => %s)) AS s
            """,
            [start, end, cadence],
        )
        log(f"{cur.rowcount} rounds")
        # Each model follows the question's slow drift plus its own bias and noise;
        # about 2% of calls fail, as providers do.
        values = ", ".join(["(%s, %s, %s)"] * len(panel))
        params = []
        for i, pm in enumerate(panel):
            params += [pm.pk, pm.name, (i - 1.5) * 0.04]
        cur.execute(
            f"""
            WITH seats(pk, name, bias) AS (VALUES {values})
            INSERT INTO forecasts_modelrun (round_id, question_id, panel_model_id, model_name, status,
                probability, was_percent, rationale, error_message, raw_output, output_mode,
                prompt_tokens, completion_tokens, cost_usd, latency_ms, attempts, answered_at, is_imported)
            SELECT r.id, r.question_id, r.pk, r.name,
                   CASE WHEN fail THEN 'provider_error' ELSE 'ok' END,
                   CASE WHEN fail THEN NULL ELSE round(least(0.99, greatest(0.01,
                       0.5 + 0.3 * sin(r.question_id + extract(epoch FROM r.slot_at) / 2592000.0)
                       + r.bias + (random() - 0.5) * 0.1))::numeric, 3)::float END,
                   false,
                   CASE WHEN fail THEN '' ELSE r.name || ': ' || %s END,
                   CASE WHEN fail THEN 'HTTP 503 from the provider' ELSE '' END,
                   '', 'json_schema', 900, 250, 0.001200, 400 + (random() * 3000)::int, 1,
                   r.slot_at + interval '30 seconds', false
            -- random() in the inner select list is drawn per row; in an
            -- uncorrelated subquery it would be drawn once for all of them.
            FROM (
                SELECT rnd.id, rnd.question_id, rnd.slot_at, seats.pk, seats.name, seats.bias,
                       random() < 0.02 AS fail
                FROM forecasts_round rnd CROSS JOIN seats
            ) r
            """,
            [*params, RATIONALE],
        )
        log(f"{cur.rowcount} model runs")
        cur.execute(
            """
            INSERT INTO forecasts_snapshot (question_id, round_id, taken_at, mean, median, minimum, maximum,
                                            spread, models_ok, models_failed, is_imported)
            SELECT question_id, round_id, taken_at, least(greatest(mean, minimum), maximum),
                   least(greatest(median, minimum), maximum), minimum, maximum, maximum - minimum,
                   models_ok, models_failed, false
            FROM (
                SELECT m.question_id, m.round_id, r.slot_at + interval '40 seconds' AS taken_at,
                       avg(m.probability) AS mean,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY m.probability) AS median,
                       min(m.probability) AS minimum, max(m.probability) AS maximum,
                       count(m.probability) AS models_ok,
                       count(*) - count(m.probability) AS models_failed
                FROM forecasts_modelrun m JOIN forecasts_round r ON r.id = m.round_id
                GROUP BY m.question_id, m.round_id, r.slot_at
                HAVING count(m.probability) > 0
            ) agg
            """
        )
        log(f"{cur.rowcount} snapshots")
        cur.execute("ANALYZE")


if __name__ == "__main__":
    main()
