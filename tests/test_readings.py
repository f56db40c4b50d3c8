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
    # Before the 7-day window opened: a big move that no longer counts.
    make_round(question, [0.10], when=now - timedelta(days=9))
    make_round(question, [0.50], when=now - timedelta(days=8))  # the value the window starts from
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


@pytest.mark.django_db
def test_a_jump_with_one_round_inside_the_window_counts_from_the_value_before_it():
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.04], when=now - timedelta(days=20))
    make_round(question, [0.04], when=now - timedelta(days=12))
    _, latest = make_round(question, [0.50], when=now)  # the only round inside the 7 days

    reading = readings.stability(question, latest)

    assert (reading.window_label, reading.move_points, reading.label) == ("7 days", 46, "volatile")
    assert (reading.start_percent, reading.end_percent) == (4, 50)


@pytest.mark.django_db
def test_the_value_the_window_starts_from_is_the_last_one_at_or_before_its_start():
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.90], when=now - timedelta(days=9))  # superseded before the window opened
    make_round(question, [0.30], when=now - timedelta(days=8))  # the value when the window opens
    make_round(question, [0.34], when=now - timedelta(days=2))
    _, latest = make_round(question, [0.32], when=now)

    reading = readings.stability(question, latest)

    assert (reading.move_points, reading.label, reading.start_percent) == (4, "shifting", 30)


@pytest.mark.django_db
def test_a_swing_inside_the_window_counts_even_when_the_average_came_back():
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.40], when=now - timedelta(days=10))
    make_round(question, [0.70], when=now - timedelta(days=3))
    _, latest = make_round(question, [0.40], when=now)

    reading = readings.stability(question, latest)

    assert (reading.move_points, reading.label, reading.start_percent, reading.end_percent) == (
        30,
        "volatile",
        40,
        40,
    )


@pytest.mark.django_db
def test_an_older_snapshot_is_judged_on_the_history_up_to_its_own_time():
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.50], when=now - timedelta(days=12))
    _, older = make_round(question, [0.51], when=now - timedelta(days=4))
    make_round(question, [0.95], when=now)  # after the older snapshot: no part of its reading

    reading = readings.stability(question, older)

    assert (reading.window_label, reading.move_points, reading.label) == ("7 days", 1, "stable")


@pytest.mark.django_db
def test_stability_for_many_snapshots_matches_one_at_a_time(django_assert_max_num_queries):
    now = timezone.now()
    pairs = []
    for start, end in [(0.1, 0.6), (0.5, 0.52), (0.3, 0.3)]:
        question = QuestionFactory()
        make_round(question, [start], when=now - timedelta(days=40))
        _, latest = make_round(question, [end], when=now)
        pairs.append((question, latest))
    young = QuestionFactory()
    _, young_latest = make_round(young, [0.5], when=now)
    pairs.append((young, young_latest))

    with django_assert_max_num_queries(3):
        many = readings.stabilities([(q.pk, s) for q, s in pairs])

    assert [many[(q.pk, s.pk)] for q, s in pairs] == [readings.stability(q, s) for q, s in pairs]
    assert [many[(q.pk, s.pk)].move_points for q, s in pairs] == [50, 2, 0, None]


@pytest.mark.django_db
def test_a_single_answer_has_no_agreement_label():
    question = QuestionFactory()
    _, snapshot = make_round(question, [0.42], failed=["B", "C", "D"], names=["A"])

    reading = readings.agreement(snapshot, [("A", 0.42)])

    assert (reading.label, reading.answered, reading.outlier) == (None, 1, None)


@pytest.mark.django_db
def test_two_answers_are_enough_to_judge_agreement():
    question = QuestionFactory()
    _, snapshot = make_round(question, [0.40, 0.80])

    assert readings.agreement(snapshot, [("A", 0.40), ("B", 0.80)]).label == "split"
