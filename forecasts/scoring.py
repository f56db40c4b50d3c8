"""How good the site's forecasts were: Brier and log scores, calibration, per-model records.

The site's forecast for a resolved question is the mean of its latest Snapshot
(its final round). Annulled questions are never scored (their status is not
"resolved"), nor are questions that never got a Snapshot. Nothing here is
cached: every figure is read from the current rows, so un-resolving a question
takes it out of every record at once.
"""

import math
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from questions.models import Question

from . import thresholds

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
    from .models import Snapshot

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
