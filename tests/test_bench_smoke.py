"""Short smoke runs of the benchmarks in bench/: the machinery works and the shapes hold.

The figures themselves come from `bench/run-all` (bench/README.md); these
only prove, in seconds, that the data generator writes consistent rows, that
the question page's queries do not grow with history, and that a small batch
of rounds through the replay server writes each snapshot exactly once.
"""

import json
import math
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.common import wrk  # noqa: F401  (the module imports cleanly)
from bench.pages import table, verdicts
from forecasts import services
from forecasts.models import ModelRun, Round, Snapshot
from tests.factories import QuestionFactory, make_round

pytestmark = pytest.mark.bench

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmarks run on PostgreSQL"
)


def _history(question, n):
    start = timezone.now() - timedelta(hours=6 * n)
    for i in range(n):
        make_round(question, [0.3, 0.4, 0.5, 0.45], when=start + timedelta(hours=6 * i))


@pytest.mark.django_db
def test_question_page_queries_do_not_grow_with_history(client, settings):
    settings.PAGE_CACHE_SECONDS = 0
    short = QuestionFactory(status="open", published_at=timezone.now() - timedelta(days=90))
    long = QuestionFactory(status="open", published_at=timezone.now() - timedelta(days=90))
    _history(short, 20)
    _history(long, 50)
    counts = []
    for question in (short, long):
        client.get(question.get_absolute_url())  # warm up
        with CaptureQueriesContext(connection) as queries:
            assert client.get(question.get_absolute_url()).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


@needs_postgres
@pytest.mark.django_db
def test_make_data_writes_a_consistent_history(tmp_path):
    import subprocess
    import sys

    import psycopg

    from bench.common import ROOT

    db = f"{settings.DATABASES['default']['NAME']}_benchdata"
    server = "postgres://{USER}@{HOST}:{PORT}".format(**settings.DATABASES["default"])
    subprocess.run(
        [
            sys.executable,
            "bench/make_data.py",
            "--server",
            server,
            "--db",
            db,
            "--questions",
            "8",
            "--days",
            "3",
            "--resolved-share",
            "0.25",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        with psycopg.connect(f"{server}/{db}") as conn:
            one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
            rounds = one("SELECT count(*) FROM forecasts_round")
            assert one("SELECT count(*) FROM questions_question") == 8
            # Six open questions with 13 slots (3 days, both ends), two resolved ones stop early.
            assert rounds >= 6 * 13
            assert one("SELECT count(*) FROM forecasts_modelrun") == 4 * rounds
            failed_rounds = one(
                "SELECT count(*) FROM (SELECT round_id FROM forecasts_modelrun GROUP BY round_id "
                "HAVING bool_and(status <> 'ok')) f"
            )
            assert one("SELECT count(*) FROM forecasts_snapshot") == rounds - failed_rounds
            assert one("SELECT count(*) FROM forecasts_modelrun WHERE status = 'ok'") > 3 * rounds
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_small_batch_of_rounds_runs_in_parallel_and_writes_once(settings, panel, replay_server):
    settings.FORECAST_LOCAL_CONCURRENCY = 4
    # http.server listens with a backlog of 5: sixteen simultaneous calls overflow it
    # and the kernel retries the dropped connections a second later.
    replay_server.httpd.socket.listen(128)
    delay = 0.2
    for i, model in enumerate(("model-a", "model-b", "model-c", "model-d")):
        answer = json.dumps({"probability": 0.2 + 0.1 * i, "rationale": "Steady."})
        replay_server.script[model] = [{"delay": delay, "content": answer}]
    questions = [QuestionFactory(status="open", published_at=timezone.now()) for _ in range(9)]
    # The first round pays for importing the client and building its TLS context.
    services.run_rounds_locally([services.create_manual_round(questions.pop()).pk])
    round_ids = [services.create_manual_round(q).pk for q in questions]
    begun = time.monotonic()
    snapshots = services.run_rounds_locally(round_ids)
    wall = time.monotonic() - begun
    bound = math.ceil(len(questions) / 4) * delay
    assert all(s is not None for s in snapshots)
    # Sequential rounds would take 8 x 0.2 s; parallel ones stay near the bound.
    assert wall < len(questions) * delay
    assert Snapshot.objects.count() == len(questions) + 1
    assert ModelRun.objects.count() == 4 * (len(questions) + 1)
    assert len(replay_server.calls) == 4 * (len(questions) + 1)
    # Running the same rounds again writes nothing.
    services.run_rounds_locally(round_ids)
    assert Snapshot.objects.count() == len(questions) + 1
    assert Round.objects.filter(status="done").count() == len(questions) + 1
    assert wall >= bound


def test_the_pages_report_states_misses_by_how_much():
    rows = [
        {
            "phase": "cached",
            "page": "home page",
            "path": "/",
            "bytes": 1000,
            "page_rps": 600.0,
            "page_p50_ms": 3.0,
            "page_p99_ms": 9.0,
            "static_rps": 1000.0,
            "static_p50_ms": 2.0,
            "static_p99_ms": 5.0,
            "ratio": 0.6,
        },
        {
            "phase": "uncached",
            "page": "question page",
            "path": "/q/",
            "bytes": 1000,
            "page_rps": 250.0,
            "page_p50_ms": 12.0,
            "page_p99_ms": 30.0,
            "static_rps": 1000.0,
            "static_p50_ms": 2.0,
            "static_p99_ms": 5.0,
            "ratio": 0.25,
        },
    ]
    text = verdicts(rows)
    assert "cached home page: 0.60x static (goal 0.8x) - MISSED by 25%" in text
    assert "uncached question page: 0.25x static (goal 0.2x) - met; p50 12.0 ms (goal < 20 ms) - met" in text
    assert "**0.60**" in table(rows)


def test_a_long_running_replay_server_keeps_no_request_bodies():
    import httpx2

    from replay import ReplayServer

    server = ReplayServer(record_calls=False).start()
    try:
        server.script["m"] = [{"content": '{"probability": 0.5, "rationale": "x"}'}]
        for _ in range(5):
            response = httpx2.post(
                f"{server.base_url}/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "x" * 1000}]},
            )
            assert response.status_code == 200
    finally:
        server.stop()
    assert server.call_count == 5
    assert server.calls == [] and server.authorizations == []
    # A round's simultaneous connections fit in the listen backlog.
    assert server.httpd.request_queue_size >= 128
