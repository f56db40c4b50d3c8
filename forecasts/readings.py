"""The three supporting readings under a question's headline probability.

confidence: how well the site's forecasts did in the question's category;
stability: how far the average has moved lately; models: whether the panel
agrees. Each is a short label plus the figure behind it. Every threshold
comes from `forecasts.thresholds`, which the methodology page also reads.
"""

import functools
import operator
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Max, Min, Q

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
    move_points: int | None  # the largest move of the average over the window
    label: str | None  # None: too young to judge
    start_percent: int | None = None  # the average when the window opened
    end_percent: int | None = None  # the average at the end of the window


NO_STABILITY = Stability(None, "", None, None)


def stability_label(move_points):
    if move_points <= thresholds.STABLE_MAX_POINTS:
        return "stable"
    if move_points <= thresholds.SHIFTING_MAX_POINTS:
        return "shifting"
    return "volatile"


def stability(question, latest):
    """How far the average moved over a window that fits the history's length.

    The move is the highest average minus the lowest over the window, counting
    the value the average had when the window opened (the last one at or
    before its start): a jump from 4% to 50% with a single round inside the
    window is a 46-point move, and a swing that came back still counts.
    """
    if latest is None:
        return NO_STABILITY
    return stabilities([(question.pk, latest)])[(question.pk, latest.pk)]


def stabilities(pairs):
    """`stability` for many (question id, snapshot) pairs in at most three queries.

    Each snapshot is judged on the history up to its own time, so an older
    snapshot (a feed item) is not judged on what came after it.
    """
    result = {(qid, snap.pk): NO_STABILITY for qid, snap in pairs}
    if not pairs:
        return result
    firsts = dict(
        Snapshot.objects.filter(question_id__in={qid for qid, _ in pairs})
        .values("question_id")
        .annotate(first=Min("taken_at"))
        .values_list("question_id", "first")
    )
    windows = {}
    for qid, snap in pairs:
        age = snap.taken_at - (firsts.get(qid) or snap.taken_at)
        # The longest window the history covers: since the first snapshot is
        # at or before the window's start, the window always has a value to
        # start from.
        fitting = [(window, label) for window, label in STABILITY_WINDOWS if age >= window]
        if fitting:
            windows[(qid, snap.pk)] = (snap, *fitting[0])
    if not windows:
        return result

    # One query for the highs and lows inside each window and the time of the
    # value each window starts from...
    aggregates = {}
    for index, ((qid, _), (snap, window, _)) in enumerate(windows.items()):
        start = snap.taken_at - window
        inside = Q(question_id=qid, taken_at__gt=start, taken_at__lte=snap.taken_at)
        aggregates[f"high_{index}"] = Max("mean", filter=inside)
        aggregates[f"low_{index}"] = Min("mean", filter=inside)
        aggregates[f"base_{index}"] = Max("taken_at", filter=Q(question_id=qid, taken_at__lte=start))
    row = Snapshot.objects.filter(question_id__in={qid for qid, _ in windows}).aggregate(**aggregates)

    # ...and one for those starting values (the latest snapshot among equal times).
    base_times = {
        key: row[f"base_{index}"] for index, key in enumerate(windows) if row[f"base_{index}"] is not None
    }
    base_means = {}
    if base_times:
        where = functools.reduce(
            operator.or_, (Q(question_id=qid, taken_at=at) for (qid, _), at in base_times.items())
        )
        for qid, at, mean in (
            Snapshot.objects.filter(where).order_by("pk").values_list("question_id", "taken_at", "mean")
        ):
            base_means[(qid, at)] = mean

    for index, (key, (snap, window, window_label)) in enumerate(windows.items()):
        start_mean = base_means.get((key[0], base_times.get(key)))
        values = [v for v in (start_mean, row[f"high_{index}"], row[f"low_{index}"]) if v is not None]
        if start_mean is None or not values:
            # Cannot happen while the window is chosen by the history's age;
            # without a value to start from there is no honest move to state.
            continue
        move = points(max(values) - min(values))
        result[key] = Stability(
            window,
            window_label,
            move,
            stability_label(move),
            start_percent=points(start_mean),
            end_percent=points(snap.mean),
        )
    return result


# --- models -------------------------------------------------------------------


@dataclass(frozen=True)
class Outlier:
    name: str
    direction: str  # "higher" or "lower" than the others
    distance_points: int


@dataclass(frozen=True)
class Agreement:
    spread_points: int
    label: str | None  # None: fewer than two answers, nothing to compare
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
    if snapshot.models_ok < 2:
        # One answer agrees with itself: a 0pt spread would read as consensus.
        return Agreement(spread_points=spread, label=None, outlier=None, answered=snapshot.models_ok)
    label = agreement_label(spread)
    # Naming an outlier among models that agree would be noise.
    outlier = find_outlier(answers) if label != "agree" else None
    return Agreement(spread_points=spread, label=label, outlier=outlier, answered=snapshot.models_ok)
