import math
from datetime import timedelta

import pytest
from django.utils import timezone

from forecasts import scoring, thresholds
from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round


def resolved(category, outcome, **kwargs):
    return QuestionFactory(category=category, status=Question.Status.RESOLVED, outcome=outcome, **kwargs)


def test_brier_of_zero_on_yes_is_one():
    assert scoring.brier(0, True) == 1.0
    assert scoring.brier(1.0, True) == 0.0
    assert scoring.brier(0.5, False) == 0.25


def test_log_loss_is_finite_for_certain_misses():
    loss = scoring.log_loss(0, True)
    assert math.isfinite(loss)
    assert loss == pytest.approx(-math.log(scoring.LOG_CLIP))
    assert scoring.log_loss(0.5, True) == pytest.approx(math.log(2))
    assert scoring.log_loss(1.0, True) == pytest.approx(0, abs=1e-5)


def test_empty_record_has_no_scores_rather_than_zero():
    record = scoring.TrackRecord.from_pairs([])
    assert record.n == 0
    assert record.brier is None
    assert record.log_score is None
    assert record.is_building


@pytest.mark.django_db
def test_track_record_scores_final_round_and_ignores_unresolved_questions():
    # KNOWN-FAILURES R-18, before the change.
    category = CategoryFactory()
    q1 = resolved(category, True)
    q2 = QuestionFactory(category=category)
    make_round(q1, [0.8])
    make_round(q2, [0.3])

    record = scoring.category_track_record(category)

    assert record.n == 1
    assert record.brier == pytest.approx(0.04)
    assert record.no_skill_brier == thresholds.NO_SKILL_BRIER == 0.25
    assert record.is_building


@pytest.mark.django_db
def test_unresolving_a_question_removes_it_from_the_track_record():
    category = CategoryFactory()
    q1 = resolved(category, True)
    make_round(q1, [0.8])
    assert scoring.category_track_record(category).n == 1

    q1.status, q1.outcome = Question.Status.OPEN, None
    q1.save()

    record = scoring.category_track_record(category)
    assert record.n == 0
    assert record.brier is None


@pytest.mark.django_db
def test_the_latest_snapshot_is_the_forecast_scored():
    category = CategoryFactory()
    question = resolved(category, False)
    now = timezone.now()
    make_round(question, [0.9], when=now - timedelta(days=2))
    make_round(question, [0.2], when=now - timedelta(days=1))

    assert scoring.category_track_record(category).brier == pytest.approx(0.04)


@pytest.mark.django_db
def test_annulled_questions_and_questions_without_snapshots_are_not_scored():
    category = CategoryFactory()
    annulled = QuestionFactory(category=category, status=Question.Status.ANNULLED)
    make_round(annulled, [0.9])
    resolved(category, True)  # never forecast
    counted = resolved(category, False)
    make_round(counted, [0.1])

    record = scoring.category_track_record(category)
    assert record.n == 1
    assert record.brier == pytest.approx(0.01)


@pytest.mark.django_db
def test_zero_and_one_answers_give_finite_scores():
    # KNOWN-FAILURES R-05: 0, 1, 0 and 0.5 average to 0.375; a final forecast of 0 on YES scores 1.0.
    category = CategoryFactory()
    q = resolved(category, True)
    make_round(q, [0, 1.0, 0.0, 0.5])
    other = resolved(category, True)
    make_round(other, [0.0])

    record = scoring.category_track_record(category)
    assert record.n == 2
    assert record.brier == pytest.approx(((0.375 - 1) ** 2 + 1.0) / 2)
    assert math.isfinite(record.log_score)


@pytest.mark.django_db
def test_category_record_counts_only_its_own_category():
    mine, other = CategoryFactory(), CategoryFactory()
    q = resolved(other, True)
    make_round(q, [0.2])

    assert scoring.category_track_record(mine).n == 0
    assert scoring.category_track_record(other).n == 1


@pytest.mark.django_db
def test_track_record_is_shown_from_the_threshold(django_assert_max_num_queries):
    category = CategoryFactory()
    for i in range(thresholds.MIN_RESOLVED_FOR_TRACK_RECORD):
        make_round(resolved(category, i % 2 == 0), [0.6])

    with django_assert_max_num_queries(1):
        record = scoring.category_track_record(category)

    assert record.n == thresholds.MIN_RESOLVED_FOR_TRACK_RECORD
    assert not record.is_building


def test_calibration_bins_count_forecasts_and_observed_frequency():
    pairs = [(0.05, False), (0.3, True), (0.35, False), (0.95, True), (1.0, True)]
    bins = scoring.calibration(pairs)

    assert len(bins) == scoring.CALIBRATION_BINS
    assert [b.count for b in bins] == [1, 0, 0, 2, 0, 0, 0, 0, 0, 2]
    assert bins[3].mean_forecast == pytest.approx(0.325)
    assert bins[3].observed == pytest.approx(0.5)
    assert bins[1].mean_forecast is None and bins[1].observed is None
    assert bins[9].observed == 1.0


@pytest.mark.parametrize(
    ("method", "values", "expected"),
    [
        (scoring.agg_mean, [0.6, 0.7, 0.5], 0.6),
        (scoring.agg_median, [0.1, 0.2, 0.9, 0.4], 0.3),
        (scoring.agg_trimmed_mean, [0.0, 0.5, 0.6, 1.0], 0.55),
        (scoring.agg_geometric_mean_of_odds, [0.2, 0.8], 0.5),
        (scoring.agg_geometric_mean_of_odds, [0.5, 0.5], 0.5),
    ],
)
def test_aggregation_methods(method, values, expected):
    assert method(values) == pytest.approx(expected)


def test_geometric_mean_of_odds_stays_finite_at_the_edges():
    value = scoring.agg_geometric_mean_of_odds([0.0, 1.0, 1.0])
    assert 0 < value < 1


@pytest.mark.django_db
def test_model_record_uses_each_models_latest_successful_answer():
    category = CategoryFactory()
    q = resolved(category, True)
    now = timezone.now()
    make_round(q, [0.2, 0.4], names=["Alpha", "Beta"], when=now - timedelta(days=2))
    make_round(q, [0.9], names=["Alpha"], failed=["Beta"], when=now - timedelta(days=1))

    records = {r.model_name: r for r in scoring.model_records()}

    alpha, beta = records["Alpha"], records["Beta"]
    assert alpha.overall.model.brier == pytest.approx(0.01)
    # Beta failed in the last round; its earlier answer is its last word.
    assert beta.overall.model.brier == pytest.approx(0.36)
    # The panel average is the final snapshot (0.9 from Alpha alone), on the same question.
    assert beta.overall.panel.brier == pytest.approx(0.01)
    assert alpha.answer_rate == 1.0
    assert beta.answer_rate == pytest.approx(0.5)
    assert beta.error_rate == pytest.approx(0.5)
    assert [row.category for row in alpha.by_category] == [category]


@pytest.mark.django_db
def test_model_records_ignore_unresolved_questions_but_count_their_calls():
    q = QuestionFactory()
    make_round(q, [0.7], names=["Alpha"], failed=["Beta"])

    records = {r.model_name: r for r in scoring.model_records()}

    assert records["Alpha"].overall.model.n == 0
    assert records["Alpha"].overall.model.brier is None
    assert records["Beta"].runs_total == 1
    assert records["Beta"].error_rate == 1.0


@pytest.mark.django_db
def test_model_records_take_a_bounded_number_of_queries(django_assert_max_num_queries):
    categories = [CategoryFactory() for _ in range(3)]
    for i in range(12):
        q = resolved(categories[i % 3], i % 2 == 0)
        make_round(q, [0.1 * (i % 9) + 0.05, 0.5, 0.6], failed=["Model D"])

    with django_assert_max_num_queries(5):
        records = scoring.model_records()

    assert len(records) == 4
    assert all(r.overall.model.n == 12 for r in records[:3])


@pytest.mark.django_db
def test_mean_method_reproduces_the_published_average():
    category = CategoryFactory()
    now = timezone.now()
    for i, outcome in enumerate([True, False, True]):
        q = resolved(category, outcome)
        make_round(q, [0.1, 0.2, 0.3], when=now - timedelta(days=3))
        make_round(q, [0.2 + 0.1 * i, 0.7, 0.9, 0.4], when=now - timedelta(days=1))

    methods = {m.key: m.record for m in scoring.aggregation_method_records()}

    assert methods["mean"].n == 3
    assert methods["mean"].brier == pytest.approx(scoring.overall_track_record().brier)
    assert methods["median"].brier != pytest.approx(methods["mean"].brier)
