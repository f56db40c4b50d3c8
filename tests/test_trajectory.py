import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasts.models import ModelRun, Round, Snapshot
from forecasts.trajectory import MAX_POINTS, build_trajectory, downsample_indices
from questions.models import Question
from tests.factories import QuestionFactory, make_round

pytestmark = pytest.mark.django_db


def _json(client, question, query=""):
    response = client.get(reverse("questions:trajectory-json", kwargs={"slug": question.slug}) + query)
    assert response.status_code == 200
    return response


def test_downsampling_keeps_first_last_and_extremes():
    values = [0.5] * 10_000
    values[1234] = 0.99
    values[7777] = 0.01
    values[0] = 0.3
    values[-1] = 0.4

    kept = downsample_indices([values], 1000)

    assert len(kept) <= 1000
    assert kept[0] == 0 and kept[-1] == len(values) - 1
    assert 1234 in kept and 7777 in kept
    assert kept == sorted(set(kept))


def test_short_series_are_sent_whole():
    assert downsample_indices([[0.1, 0.2, 0.3]], 1000) == [0, 1, 2]


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


def _bulk_history(question, hours, model_names=("Model A",)):
    """Hourly rounds with a snapshot each (and one answer per named model), inserted in bulk."""
    start = timezone.now() - timedelta(hours=hours)
    times = [start + timedelta(hours=i) for i in range(hours)]
    rounds = Round.objects.bulk_create(
        [Round(question=question, slot_at=t, status=Round.Status.DONE) for t in times], batch_size=2000
    )
    snapshots, runs = [], []
    for i, (rnd, t) in enumerate(zip(rounds, times, strict=True)):
        mean = 0.5 + 0.3 * math.sin(i / 500)
        snapshots.append(
            Snapshot(
                question=question,
                round=rnd,
                taken_at=t,
                mean=mean,
                median=mean,
                minimum=mean - 0.1,
                maximum=mean + 0.1,
                spread=0.2,
                models_ok=4,
            )
        )
        for name in model_names:
            runs.append(
                ModelRun(
                    round=rnd,
                    question=question,
                    model_name=name,
                    status=ModelRun.Status.OK,
                    probability=mean,
                    answered_at=t,
                )
            )
    Snapshot.objects.bulk_create(snapshots, batch_size=2000)
    ModelRun.objects.bulk_create(runs, batch_size=2000)
    return times


@pytest.mark.slow
def test_years_of_hourly_snapshots_give_a_bounded_payload(client):
    # Three years of hourly rounds; model answers are left out to keep the
    # test quick (their series are bounded by the same function, tested below).
    question = QuestionFactory()
    times = _bulk_history(question, 26_000, model_names=())
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
    _bulk_history(question, 1_500, model_names=("Model A",))

    data = _json(client, question).json()

    assert [len(series["points"]) <= MAX_POINTS for series in data["models"]] == [True]
    assert all(len(series["points"]) > MAX_POINTS // 2 for series in data["models"])


def test_the_fragment_table_holds_the_downsampled_rows(client):
    question = QuestionFactory()
    _bulk_history(question, 3_000, model_names=())

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
