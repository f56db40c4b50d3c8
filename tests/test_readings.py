from datetime import timedelta

import pytest
from django.utils import timezone

from forecasts import readings, thresholds
from tests.factories import QuestionFactory, make_round


@pytest.mark.parametrize(
    ("fraction", "expected"), [(0.625, 63), (0.6325, 63), (0.145, 15), (0.13, 13), (0.0, 0), (1.0, 100)]
)
def test_points_round_halves_up(fraction, expected):
    assert readings.points(fraction) == expected


def test_signed_points():
    assert readings.signed_points(0.04) == "+4pt"
    assert readings.signed_points(-0.021) == "−2pt"
    assert readings.signed_points(0.001) == "no change"


@pytest.mark.parametrize(
    ("spread", "label"),
    [
        (thresholds.AGREE_MAX_POINTS, "agree"),
        (thresholds.AGREE_MAX_POINTS + 1, "differ"),
        (thresholds.DIFFER_MAX_POINTS, "differ"),
        (thresholds.DIFFER_MAX_POINTS + 1, "split"),
    ],
)
def test_agreement_labels_follow_the_thresholds(spread, label):
    assert readings.agreement_label(spread) == label


@pytest.mark.parametrize(
    ("move", "label"),
    [
        (0, "stable"),
        (thresholds.STABLE_MAX_POINTS, "stable"),
        (thresholds.STABLE_MAX_POINTS + 1, "shifting"),
        (thresholds.SHIFTING_MAX_POINTS + 1, "volatile"),
    ],
)
def test_stability_labels_follow_the_thresholds(move, label):
    assert readings.stability_label(move) == label


def test_the_outlier_is_the_model_furthest_from_the_others():
    outlier = readings.find_outlier([("A", 0.55), ("B", 0.60), ("C", 0.68), ("D", 0.62)])

    assert (outlier.name, outlier.direction, outlier.distance_points) == ("C", "higher", 9)


def test_two_models_have_no_outlier():
    assert readings.find_outlier([("A", 0.1), ("B", 0.9)]) is None




@pytest.mark.django_db
def test_models_that_agree_name_no_outlier():
    question = QuestionFactory()
    _, snapshot = make_round(question, [0.50, 0.52, 0.55, 0.51])

    reading = readings.agreement(snapshot, [("A", 0.50), ("B", 0.52), ("C", 0.55), ("D", 0.51)])

    assert (reading.spread_points, reading.label, reading.outlier) == (5, "agree", None)


@pytest.mark.django_db
def test_a_young_question_gets_no_stability_label():
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.2], when=now - timedelta(hours=12))
    _, latest = make_round(question, [0.6], when=now)

    reading = readings.stability(question, latest)

    assert reading.label is None and reading.move_points is None


@pytest.mark.parametrize(("history_days", "window_label"), [(2, "1 day"), (8, "7 days"), (45, "30 days")])
@pytest.mark.django_db
def test_the_stability_window_grows_with_the_history(history_days, window_label):
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.5], when=now - timedelta(days=history_days))
    _, latest = make_round(question, [0.5], when=now)

    assert readings.stability(question, latest).window_label == window_label


@pytest.mark.django_db
def test_stability_is_the_largest_move_within_the_window():
    question = QuestionFactory()
    now = timezone.now()
    # Outside the 7-day window: a big move that no longer counts.
    make_round(question, [0.10], when=now - timedelta(days=9))
    make_round(question, [0.50], when=now - timedelta(days=6))
    make_round(question, [0.58], when=now - timedelta(days=3))  # the swing...
    _, latest = make_round(question, [0.52], when=now)  # ...that came back

    reading = readings.stability(question, latest)

    assert (reading.window_label, reading.move_points, reading.label) == ("7 days", 8, "shifting")


@pytest.mark.django_db
def test_confidence_reports_building_history_below_the_minimum():
    question = QuestionFactory()

    reading = readings.confidence(question.category)

    assert reading.is_building and reading.n == 0
    assert reading.label == "building category history"
