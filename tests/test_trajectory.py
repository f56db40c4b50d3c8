import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from forecasts.models import Snapshot
from forecasts.trajectory import MAX_POINTS, build_trajectory
from questions.models import Question
from tests.factories import QuestionFactory, make_round

pytestmark = pytest.mark.django_db


def _json(client, question, query=""):
    response = client.get(reverse("questions:trajectory-json", kwargs={"slug": question.slug}) + query)
    assert response.status_code == 200
    return response


def test_downsampling_keeps_first_last_and_extremes():
    question = QuestionFactory()
    times = _fast_history(question, 10_000)
    Snapshot.objects.filter(question=question, taken_at=times[1234]).update(mean=0.99, maximum=0.995)
    Snapshot.objects.filter(question=question, taken_at=times[7777]).update(mean=0.01, minimum=0.005)

    rows = build_trajectory(question)["rows"]

    assert len(rows) <= MAX_POINTS
    assert rows[0]["t"] == _ms(times[0]) and rows[-1]["t"] == _ms(times[-1])
    assert {"t": _ms(times[1234]), "mean": 99.0} in [{"t": r["t"], "mean": r["mean"]} for r in rows]
    assert {"t": _ms(times[7777]), "mean": 1.0} in [{"t": r["t"], "mean": r["mean"]} for r in rows]
    # The band keeps its extremes too.
    assert max(r["max"] for r in rows) == 99.5
    assert min(r["min"] for r in rows) == 0.5
    assert [r["t"] for r in rows] == sorted({r["t"] for r in rows})


def test_short_series_are_sent_whole():
    question = QuestionFactory()
    times = _fast_history(question, 3)

    rows = build_trajectory(question)["rows"]

    assert [r["t"] for r in rows] == [_ms(t) for t in times]
    assert rows[0] == {"t": _ms(times[0]), "mean": 80.0, "min": 70.0, "max": 90.0}


def test_a_long_history_costs_a_fixed_number_of_queries(django_assert_num_queries):
    question = QuestionFactory()
    _fast_history(question, 5_000, model_names=("Model A", "Model B"))

    # The range's start, the snapshots and the model lines.
    with django_assert_num_queries(3):
        data = build_trajectory(question, "1y")

    assert data["count"] == 5_000
    assert len(data["rows"]) <= MAX_POINTS
    assert [len(m["points"]) <= MAX_POINTS for m in data["models"]] == [True, True]


def test_series_carry_epoch_milliseconds_and_percentages(client):
    question = QuestionFactory()
    when = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
    make_round(question, [0.6, 0.7, 0.5], when=when)

    data = _json(client, question).json()

    assert data["rows"] == [{"t": 1740808800000, "mean": 60.0, "min": 50.0, "max": 70.0}]
    assert data["latest"]["mean"] == 60.0
    assert {series["name"] for series in data["models"]} == {"Model A", "Model B", "Model C"}


def test_failed_models_are_absent_not_null(client):
    question = QuestionFactory()
    make_round(question, [0.6, 0.7], failed=["Model C"], when=timezone.now() - timedelta(days=1))
    make_round(question, [0.6, 0.7, 0.5], names=["Model A", "Model B", "Model C"])

    response = _json(client, question)

    assert "NaN" not in response.text and "null" not in response.text.replace('"resolution": null', "")
    series = {s["name"]: s["points"] for s in response.json()["models"]}
    assert len(series["Model A"]) == 2
    assert len(series["Model C"]) == 1


def test_it_marks_the_resolution(client):
    question = QuestionFactory()
    make_round(question, [0.9, 0.8])
    question.status = Question.Status.RESOLVED
    question.outcome = False
    question.resolved_at = datetime(2025, 6, 1, tzinfo=UTC)
    question.save()

    data = _json(client, question).json()

    assert data["resolution"] == {"t": 1748736000000, "outcome": "NO"}


def test_range_limits_the_history(client):
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.2], when=now - timedelta(days=200))
    make_round(question, [0.4], when=now - timedelta(days=20))
    make_round(question, [0.6], when=now)

    assert _json(client, question, "?range=1m").json()["count"] == 2
    assert _json(client, question, "?range=1y").json()["count"] == 3
    assert _json(client, question, "?range=bogus").json()["range"] == "all"


def _ms(moment):
    return int(moment.timestamp() * 1000)


def _fast_history(question, hours, model_names=()):
    """Hourly done rounds with a snapshot each (and one answer per named model), written by the database.

    One INSERT ... SELECT per table over generate_series (PostgreSQL) or a
    recursive CTE (SQLite): tens of thousands of rows in well under a second.
    The average zigzags between 20% and 80% with a period of 1,000 hours.
    """
    start = (timezone.now() - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    ops = connection.ops
    params = {
        "q": question.pk,
        "n": hours,
        "start": ops.adapt_datetimefield_value(start),
        "now": ops.adapt_datetimefield_value(timezone.now()),
    }
    if connection.vendor == "postgresql":
        series = "SELECT i FROM generate_series(0, %(n)s - 1) AS i"
        slot = "(%(start)s::timestamptz + i * interval '1 hour')"
    else:
        series = "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < %(n)s) SELECT i FROM s"
        slot = "datetime(%(start)s, '+' || i || ' hours')"
    mean = "(0.2 + 0.6 * abs((i %% 1000) - 500) / 500.0)"
    joined = f"FROM ({series}) AS g JOIN forecasts_round r ON r.question_id = %(q)s AND r.slot_at = {slot}"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO forecasts_round (question_id, slot_at, kind, status, claims, label, created_at) "
            f"SELECT %(q)s, {slot}, 'scheduled', 'done', 0, '', %(now)s FROM ({series}) AS g",
            params,
        )
        cursor.execute(
            "INSERT INTO forecasts_snapshot (question_id, round_id, taken_at, mean, median, minimum, maximum,"
            " spread, models_ok, models_failed, is_imported) "
            f"SELECT %(q)s, r.id, r.slot_at, {mean}, {mean}, {mean} - 0.1, {mean} + 0.1, 0.2, 4, 0, FALSE "
            + joined,
            params,
        )
        for name in model_names:
            cursor.execute(
                "INSERT INTO forecasts_modelrun (round_id, question_id, model_name, status, probability,"
                " was_percent, rationale, error_message, raw_output, output_mode, attempts, answered_at,"
                " is_imported) "
                f"SELECT r.id, %(q)s, %(name)s, 'ok', {mean}, FALSE, '', '', '', '', 1, r.slot_at, FALSE "
                + joined,
                {**params, "name": name},
            )
    return [start + timedelta(hours=i) for i in range(hours)]


def test_years_of_hourly_snapshots_give_a_bounded_payload(client):
    # Three years of hourly rounds; model answers are left out to keep the
    # test quick (their series are bounded by the same query, tested below).
    question = QuestionFactory()
    times = _fast_history(question, 26_000)
    # A spike that downsampling must keep.
    spike = Snapshot.objects.get(question=question, taken_at=times[12_345])
    Snapshot.objects.filter(pk=spike.pk).update(mean=0.99, maximum=1.0, median=0.99)

    response = _json(client, question)
    data = response.json()

    assert data["count"] == 26_000
    assert len(data["rows"]) <= MAX_POINTS
    assert len(response.content) < 100_000
    assert data["rows"][0]["t"] < data["rows"][-1]["t"]
    assert max(row["mean"] for row in data["rows"]) == 99.0
    assert data["latest"]["t"] == int(times[-1].timestamp() * 1000)


def test_each_model_line_is_downsampled_too(client):
    question = QuestionFactory()
    _fast_history(question, 1_500, model_names=("Model A",))

    data = _json(client, question).json()

    assert [len(series["points"]) <= MAX_POINTS for series in data["models"]] == [True]
    assert all(len(series["points"]) > MAX_POINTS // 2 for series in data["models"])


def test_the_fragment_table_holds_the_downsampled_rows(client):
    question = QuestionFactory()
    _fast_history(question, 3_000)

    response = client.get(
        reverse("questions:trajectory", kwargs={"slug": question.slug}), HTTP_HX_REQUEST="true"
    )

    rows = response.text.count("<tr><td>")
    assert rows == len(build_trajectory(question)["rows"])
    assert rows <= MAX_POINTS
    assert "sampled from 3000 rounds" in response.text


def test_the_json_never_contains_non_finite_numbers(client):
    question = QuestionFactory()
    make_round(question, [0.0, 1.0, 0.5])

    text = _json(client, question).text

    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["rows"][0] == {
        "t": json.loads(text)["rows"][0]["t"],
        "mean": 50.0,
        "min": 0.0,
        "max": 100.0,
    }


def test_model_points_sit_at_their_rounds_time_not_when_they_answered():
    from forecasts.models import ModelRun

    question = QuestionFactory()
    slot = timezone.now().replace(microsecond=0) - timedelta(days=1)
    rnd, _ = make_round(question, [0.2, 0.4], when=slot)
    ModelRun.objects.filter(round=rnd).update(answered_at=slot + timedelta(hours=15))
    data = build_trajectory(question, "all")
    assert {tuple(m["points"][0]) for m in data["models"]} == {
        (data["rows"][0]["t"], 20.0),
        (data["rows"][0]["t"], 40.0),
    }
