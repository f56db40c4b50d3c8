"""How good the site's forecasts were: Brier and log scores, calibration, per-model records.

The site's forecast for a resolved question is the mean of its latest Snapshot
(its final round). Annulled questions are never scored (their status is not
"resolved"), nor are questions that never got a Snapshot. Nothing here is
cached: every figure is read from the current rows, so un-resolving a question
takes it out of every record at once.
"""

import math
import statistics
from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber

from questions.models import Category, Question

from . import thresholds
from .models import ModelRun, PanelModel, Snapshot

# Log scores clip the probability this far away from 0 and 1, so that a
# confident miss costs a large but finite amount (-ln(1e-6) ≈ 13.8) rather
# than infinity. Brier scores use the probability as stored.
LOG_CLIP = 1e-6


def brier(p: float, outcome: bool | int) -> float:
    """Squared error of a probability against a 0/1 outcome: 0 is perfect, 0.25 is always-50%, 1 is worst."""
    return (float(p) - float(outcome)) ** 2


def log_loss(p: float, outcome: bool | int) -> float:
    """Minus the natural log of the probability given to what happened.

    0 is perfect and ln 2 ≈ 0.693 is always-50%.
    The probability is clipped to [LOG_CLIP, 1 - LOG_CLIP] for this score only.
    """
    p = min(max(float(p), LOG_CLIP), 1.0 - LOG_CLIP)
    return -math.log(p if outcome else 1.0 - p)


# The site reports the log score as a loss (lower is better, like Brier).
log_score = log_loss

NO_SKILL_LOG_LOSS = math.log(2)


def _mean(values) -> float | None:
    values = list(values)
    if not values:
        return None
    return math.fsum(values) / len(values)


def mean_brier(pairs) -> float | None:
    """Mean Brier score over (probability, outcome) pairs; None (never 0) when there are none."""
    return _mean(brier(p, o) for p, o in pairs)


def mean_log_loss(pairs) -> float | None:
    return _mean(log_loss(p, o) for p, o in pairs)


@dataclass(frozen=True)
class ScoredForecast:
    question_id: int
    category_id: int
    probability: float
    outcome: bool


@dataclass(frozen=True)
class TrackRecord:
    """A set of scored forecasts summed up; brier and log_score are None when n is 0."""

    n: int
    brier: float | None
    log_score: float | None
    no_skill_brier: float = thresholds.NO_SKILL_BRIER
    no_skill_log_score: float = NO_SKILL_LOG_LOSS
    min_resolved: int = thresholds.MIN_RESOLVED_FOR_TRACK_RECORD
    is_building: bool = True

    @classmethod
    def from_pairs(cls, pairs) -> "TrackRecord":
        pairs = list(pairs)
        return cls(
            n=len(pairs),
            brier=mean_brier(pairs),
            log_score=mean_log_loss(pairs),
            is_building=len(pairs) < thresholds.MIN_RESOLVED_FOR_TRACK_RECORD,
        )

    @property
    def beats_no_skill(self) -> bool | None:
        if self.brier is None:
            return None
        return self.brier < self.no_skill_brier


def scored_questions():
    """Resolved questions annotated with final_mean, their latest Snapshot's mean (none: left out)."""
    latest = Snapshot.objects.filter(question=OuterRef("pk")).order_by("-taken_at", "-pk")
    return (
        Question.objects.resolved()
        .filter(outcome__isnull=False)
        .annotate(final_mean=Subquery(latest.values("mean")[:1]))
        .filter(final_mean__isnull=False)
    )


def final_forecasts(questions=None) -> list[ScoredForecast]:
    """The site's final forecast and the outcome for each scored question, in one query."""
    qs = scored_questions()
    if questions is not None:
        qs = qs.filter(pk__in=questions.values("pk"))
    rows = qs.order_by("pk").values_list("pk", "category_id", "final_mean", "outcome")
    return [ScoredForecast(q, c, p, o) for q, c, p, o in rows]


def category_track_record(category) -> TrackRecord:
    """The Brier and log score of the site's final forecasts on the category's resolved questions."""
    rows = scored_questions().filter(category=category).values_list("final_mean", "outcome")
    return TrackRecord.from_pairs(rows)


def overall_track_record() -> TrackRecord:
    return TrackRecord.from_pairs((f.probability, f.outcome) for f in final_forecasts())


# Calibration ---------------------------------------------------------------

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class CalibrationBin:
    """Forecasts that fell in [lower, upper): how many, their mean, and how often the event happened."""

    lower: float
    upper: float
    count: int
    mean_forecast: float | None
    observed: float | None

    @property
    def label(self) -> str:
        return f"{round(self.lower * 100)}–{round(self.upper * 100)}%"

    @property
    def mean_forecast_percent(self) -> float | None:
        return None if self.mean_forecast is None else self.mean_forecast * 100

    @property
    def observed_percent(self) -> float | None:
        return None if self.observed is None else self.observed * 100


def calibration(pairs, bins: int = CALIBRATION_BINS) -> list[CalibrationBin]:
    """Equal-width bins of (probability, outcome) pairs; the last includes 1.0; empty bins count 0."""
    grouped: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for p, outcome in pairs:
        # The small nudge keeps 0.3 (stored as 0.29999...) in the 30-40% bin, as a reader expects.
        index = min(int(float(p) * bins + 1e-9), bins - 1)
        grouped[index].append((float(p), bool(outcome)))
    return [
        CalibrationBin(
            lower=i / bins,
            upper=(i + 1) / bins,
            count=len(group),
            mean_forecast=_mean(p for p, _ in group),
            observed=_mean(1.0 if o else 0.0 for _, o in group),
        )
        for i, group in enumerate(grouped)
    ]


def calibration_points(bins: list[CalibrationBin]) -> list[dict]:
    """The non-empty bins as chart points, in percent: {"x": mean forecast, "y": observed, "n": count}."""
    return [
        {"x": round(b.mean_forecast_percent, 2), "y": round(b.observed_percent, 2), "n": b.count}
        for b in bins
        if b.count
    ]


@dataclass(frozen=True)
class CategoryReport:
    record: TrackRecord
    calibration: list[CalibrationBin]


def category_report(category) -> CategoryReport:
    """The category's track record and calibration table, from one query."""
    rows = list(scored_questions().filter(category=category).values_list("final_mean", "outcome"))
    return CategoryReport(record=TrackRecord.from_pairs(rows), calibration=calibration(rows))


# Per-model records ---------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One model's record next to the panel average's on exactly the same questions."""

    model: TrackRecord
    panel: TrackRecord

    @property
    def no_skill_brier(self) -> float:
        return thresholds.NO_SKILL_BRIER

    @property
    def no_skill_log_score(self) -> float:
        return NO_SKILL_LOG_LOSS


@dataclass(frozen=True)
class CategoryComparison:
    category: object
    comparison: Comparison


@dataclass(frozen=True)
class ModelRecord:
    model_name: str
    overall: Comparison
    by_category: list[CategoryComparison]
    calibration: list[CalibrationBin]
    runs_total: int
    runs_ok: int

    @property
    def runs_failed(self) -> int:
        return self.runs_total - self.runs_ok

    @property
    def answer_rate(self) -> float | None:
        return self.runs_ok / self.runs_total if self.runs_total else None

    @property
    def error_rate(self) -> float | None:
        return self.runs_failed / self.runs_total if self.runs_total else None

    @property
    def answer_rate_percent(self) -> float | None:
        return None if self.answer_rate is None else self.answer_rate * 100

    @property
    def error_rate_percent(self) -> float | None:
        return None if self.error_rate is None else self.error_rate * 100


def final_model_forecasts() -> dict[str, dict[int, float]]:
    """Each model's latest successful answer on each resolved question: {model_name: {question_id: p}}."""

    rows = (
        ModelRun.objects.ok()
        .filter(question__status=Question.Status.RESOLVED)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("question_id"), F("model_name")],
                order_by=[F("answered_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank=1)
        .values_list("model_name", "question_id", "probability")
    )
    result: dict[str, dict[int, float]] = {}
    for name, question_id, p in rows:
        result.setdefault(name, {})[question_id] = p
    return result


def _run_counts() -> dict[str, tuple[int, int]]:
    rows = ModelRun.objects.values("model_name").annotate(
        total=Count("pk"), ok=Count("pk", filter=Q(status=ModelRun.Status.OK))
    )
    return {row["model_name"]: (row["total"], row["ok"]) for row in rows}


def _model_order(names) -> list[str]:
    """Panel seats in their page order first, then names no longer on the panel, alphabetically."""
    positions = dict(PanelModel.objects.values_list("name", "position"))
    return sorted(names, key=lambda n: (n not in positions, positions.get(n, 0), n.lower()))


def model_records() -> list[ModelRecord]:
    """Every model's record on resolved questions next to the panel average, in a fixed number of queries.

    A model is scored on the questions where it has a successful answer and
    the site has a final forecast; the panel average is scored on the same
    questions, so the two figures compare like with like.
    """
    finals = {f.question_id: f for f in final_forecasts()}
    per_model = final_model_forecasts()
    counts = _run_counts()
    categories = {c.pk: c for c in Category.objects.all()}
    records = []
    for name in _model_order(set(per_model) | set(counts)):
        answers = {q: p for q, p in per_model.get(name, {}).items() if q in finals}
        model_pairs = [(p, finals[q].outcome) for q, p in answers.items()]
        panel_pairs = [(finals[q].probability, finals[q].outcome) for q in answers]
        by_category = []
        for category in categories.values():
            ids = [q for q in answers if finals[q].category_id == category.pk]
            if not ids:
                continue
            by_category.append(
                CategoryComparison(
                    category=category,
                    comparison=Comparison(
                        model=TrackRecord.from_pairs((answers[q], finals[q].outcome) for q in ids),
                        panel=TrackRecord.from_pairs((finals[q].probability, finals[q].outcome) for q in ids),
                    ),
                )
            )
        total, ok = counts.get(name, (0, 0))
        records.append(
            ModelRecord(
                model_name=name,
                overall=Comparison(
                    model=TrackRecord.from_pairs(model_pairs), panel=TrackRecord.from_pairs(panel_pairs)
                ),
                by_category=by_category,
                calibration=calibration(model_pairs),
                runs_total=total,
                runs_ok=ok,
            )
        )
    return records


@dataclass(frozen=True)
class CategoryRecordRow:
    category: object
    record: TrackRecord


def category_records() -> list[CategoryRecordRow]:
    """The panel average's record in every category (those with nothing resolved too), in two queries."""
    grouped: dict[int, list[tuple[float, bool]]] = {}
    for f in final_forecasts():
        grouped.setdefault(f.category_id, []).append((f.probability, f.outcome))
    return [
        CategoryRecordRow(c, TrackRecord.from_pairs(grouped.get(c.pk, []))) for c in Category.objects.all()
    ]


# Aggregation methods -------------------------------------------------------

ODDS_CLIP = LOG_CLIP


def agg_mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def agg_median(values: list[float]) -> float:
    return statistics.median(values)


def agg_trimmed_mean(values: list[float]) -> float:
    """The mean without the single highest and lowest answer (with three or more answers)."""
    if len(values) < 3:
        return agg_mean(values)
    return agg_mean(sorted(values)[1:-1])


def agg_geometric_mean_of_odds(values: list[float]) -> float:
    """exp(mean(log odds)) as a probability; 0 and 1 are clipped by ODDS_CLIP so the odds stay finite."""
    clipped = [min(max(v, ODDS_CLIP), 1.0 - ODDS_CLIP) for v in values]
    mean_log_odds = agg_mean([math.log(v / (1.0 - v)) for v in clipped])
    return 1.0 / (1.0 + math.exp(-mean_log_odds))


AGGREGATION_METHODS = [
    ("mean", "Mean (the site's average)", agg_mean),
    ("median", "Median", agg_median),
    ("trimmed_mean", "Trimmed mean (highest and lowest left out)", agg_trimmed_mean),
    ("geo_mean_odds", "Geometric mean of odds", agg_geometric_mean_of_odds),
]


@dataclass(frozen=True)
class MethodRecord:
    key: str
    label: str
    record: TrackRecord


def aggregation_method_records() -> list[MethodRecord]:
    """Brier and log score of each way of averaging the final round's successful answers, in two queries."""
    finals = {f.question_id: f for f in final_forecasts()}
    final_round = Snapshot.objects.filter(question=OuterRef("question_id")).order_by("-taken_at", "-pk")
    rows = (
        ModelRun.objects.ok()
        .filter(question__status=Question.Status.RESOLVED)
        .filter(round_id=Subquery(final_round.values("round_id")[:1]))
        .values_list("question_id", "probability")
    )
    answers: dict[int, list[float]] = {}
    for question_id, p in rows:
        if question_id in finals:
            answers.setdefault(question_id, []).append(p)
    return [
        MethodRecord(
            key=key,
            label=label,
            record=TrackRecord.from_pairs(
                (method(values), finals[q].outcome) for q, values in answers.items()
            ),
        )
        for key, label, method in AGGREGATION_METHODS
    ]
