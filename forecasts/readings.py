"""The three supporting readings under a question's headline probability.

confidence: how well the site's forecasts did in the question's category;
stability: how far the average has moved lately; models: whether the panel
agrees. Each is a short label plus the figure behind it. Every threshold
comes from `forecasts.thresholds`, which the methodology page also reads.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Max, Min

from . import thresholds
from .models import Snapshot


def points(fraction):
    """A fraction as whole percentage points, halves rounded up (0.625 -> 63).

    Python's round() would send 62.5 to 62; readers expect 63.
    """
    if fraction is None:
        return None
    # Rounding to 6 places first absorbs float noise such as 0.145 * 100 = 14.4999...
    return int(Decimal(repr(round(fraction * 100, 6))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


percent = points


def signed_points(delta):
    """A move in points with its sign: "+4pt", "−2pt", "no change"."""
    value = points(abs(delta)) if delta is not None else None
    if value is None:
        return ""
    if value == 0:
        return "no change"
    return f"{'+' if delta > 0 else '−'}{value}pt"


# --- confidence ---------------------------------------------------------------


@dataclass(frozen=True)
class Confidence:
    n: int
    brier: float | None
    log_score: float | None
    no_skill_brier: float
    is_building: bool
    min_resolved: int = thresholds.MIN_RESOLVED_FOR_TRACK_RECORD

    @property
    def label(self):
        if self.is_building:
            return "building category history"
        if self.brier is None:
            return "n/a"
        if self.brier < self.no_skill_brier:
            return "better than chance"
        return "no better than chance"


def confidence(category):
    """The category's track record, as `forecasts.scoring` computes it."""
    from .scoring import category_track_record

    record = category_track_record(category)
    return Confidence(
        n=record.n,
        brier=record.brier,
        log_score=record.log_score,
        no_skill_brier=getattr(record, "no_skill_brier", thresholds.NO_SKILL_BRIER),
        is_building=record.is_building,
    )


# --- stability ----------------------------------------------------------------

# The window grows with the question's history: a day for a young question,
# then a week, then a month. Below a day of history there is nothing to judge.
STABILITY_WINDOWS = (
    (timedelta(days=30), "30 days"),
    (timedelta(days=7), "7 days"),
    (timedelta(days=1), "1 day"),
)


@dataclass(frozen=True)
class Stability:
    window: timedelta | None
    window_label: str
    move_points: int | None  # the largest move of the average within the window
    label: str | None  # None: too young to judge


def stability_label(move_points):
    if move_points <= thresholds.STABLE_MAX_POINTS:
        return "stable"
    if move_points <= thresholds.SHIFTING_MAX_POINTS:
        return "shifting"
    return "volatile"


def stability(question, latest):
    """The largest move of the average over a window that fits the history's length.

    The move is the highest average minus the lowest within the window, so a
    swing that came back still counts.
    """
    if latest is None:
        return Stability(None, "", None, None)
    history = Snapshot.objects.filter(question=question)
    first_taken_at = history.aggregate(first=Min("taken_at"))["first"] or latest.taken_at
    age = latest.taken_at - first_taken_at
    fitting = [(window, label) for window, label in STABILITY_WINDOWS if age >= window]
    if not fitting:
        return Stability(None, "", None, None)
    window, window_label = fitting[0]
    span = history.filter(taken_at__gte=latest.taken_at - window).aggregate(high=Max("mean"), low=Min("mean"))
    move = points(span["high"] - span["low"])
    return Stability(window, window_label, move, stability_label(move))


# --- models -------------------------------------------------------------------


@dataclass(frozen=True)
class Outlier:
    name: str
    direction: str  # "higher" or "lower" than the others
    distance_points: int


@dataclass(frozen=True)
class Agreement:
    spread_points: int
    label: str
    outlier: Outlier | None
    answered: int


def agreement_label(spread_points):
    if spread_points <= thresholds.AGREE_MAX_POINTS:
        return "agree"
    if spread_points <= thresholds.DIFFER_MAX_POINTS:
        return "differ"
    return "split"


def find_outlier(answers):
    """The model furthest from the average of the others, given (name, probability) pairs.

    Needs three answers: with two, neither is more of an outlier than the other.
    """
    if len(answers) < 3:
        return None
    best = None
    for i, (name, p) in enumerate(answers):
        others = [q for j, (_, q) in enumerate(answers) if j != i]
        rest = sum(others) / len(others)
        distance = abs(p - rest)
        if best is None or distance > best[0]:
            best = (distance, name, "higher" if p > rest else "lower")
    distance, name, direction = best
    return Outlier(name=name, direction=direction, distance_points=points(distance))


def agreement(snapshot, answers):
    """The models reading from the latest snapshot and its successful (name, probability) answers."""
    if snapshot is None:
        return None
    spread = points(snapshot.spread)
    label = agreement_label(spread)
    # Naming an outlier among models that agree would be noise.
    outlier = find_outlier(answers) if label != "agree" else None
    return Agreement(spread_points=spread, label=label, outlier=outlier, answered=snapshot.models_ok)
