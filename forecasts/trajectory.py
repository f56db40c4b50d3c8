"""The belief trajectory: a question's snapshots as chart series, bounded in size.

A question asked hourly for three years has about 26,000 snapshots and four
times as many model answers. Sending all of them would freeze the reader's
browser, so every series is downsampled on the server to at most about
`MAX_POINTS` points, keeping the first point, the last point and the extremes
of each stretch of history so that no peak or trough disappears.

Times are epoch milliseconds (UTC): the browser shows them in the reader's
own time zone. Values are percentages with one decimal. A failed model has no
point at all in a round, never a null or NaN value.
"""

import math
from datetime import timedelta
from typing import TypedDict

from django.utils import timezone

from .models import ModelRun, Snapshot

MAX_POINTS = 1000

# Range buttons on the chart: the window of history each one shows.
RANGES = {
    "1m": timedelta(days=30),
    "3m": timedelta(days=91),
    "1y": timedelta(days=365),
    "all": None,
}
DEFAULT_RANGE = "all"


class Row(TypedDict):
    t: int  # epoch milliseconds
    mean: float
    min: float
    max: float


class ModelSeries(TypedDict):
    name: str
    points: list[list[float]]  # [epoch ms, percent]


class Trajectory(TypedDict):
    range: str
    count: int  # snapshots in the range before downsampling
    rows: list[Row]
    models: list[ModelSeries]
    resolution: dict | None
    latest: dict | None


def epoch_ms(dt):
    return int(dt.timestamp() * 1000)


def _pct(value):
    return round(value * 100, 1)


def downsample_indices(columns, max_points):
    """Indices of the rows to keep so that at most `max_points` remain.

    `columns` are equally long sequences of numbers, one per series sharing
    the same rows. History is cut into equal stretches; each stretch keeps the
    rows where every column reaches its minimum and its maximum. The first and
    last rows are always kept.
    """
    n = len(columns[0]) if columns else 0
    if n <= max_points:
        return list(range(n))
    per_bucket = 2 * len(columns)
    buckets = max(1, (max_points - 2) // per_bucket)
    size = math.ceil((n - 2) / buckets)
    keep = {0, n - 1}
    for start in range(1, n - 1, size):
        stop = min(start + size, n - 1)
        for column in columns:
            chunk = column[start:stop]
            low = min(range(len(chunk)), key=chunk.__getitem__)
            high = max(range(len(chunk)), key=chunk.__getitem__)
            keep.add(start + low)
            keep.add(start + high)
    return sorted(keep)


def _since(question, range_key):
    span = RANGES[range_key]
    if span is None:
        return None
    latest = (
        Snapshot.objects.filter(question=question).order_by("-taken_at").values_list("taken_at", flat=True)
    )
    end = latest.first() or timezone.now()
    return end - span


def build_trajectory(question, range_key=DEFAULT_RANGE, max_points=MAX_POINTS) -> Trajectory:
    """The chart's data for one question: mean, min-max band and one line per model."""
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    since = _since(question, range_key)

    snapshots = Snapshot.objects.filter(question=question)
    runs = ModelRun.objects.filter(question=question, status=ModelRun.Status.OK, probability__isnull=False)
    if since is not None:
        snapshots = snapshots.filter(taken_at__gte=since)
        runs = runs.filter(answered_at__gte=since)

    snap_rows = list(snapshots.order_by("taken_at").values_list("taken_at", "mean", "minimum", "maximum"))
    means = [r[1] for r in snap_rows]
    minima = [r[2] for r in snap_rows]
    maxima = [r[3] for r in snap_rows]
    rows: list[Row] = [
        {
            "t": epoch_ms(snap_rows[i][0]),
            "mean": _pct(means[i]),
            "min": _pct(minima[i]),
            "max": _pct(maxima[i]),
        }
        for i in downsample_indices([means, minima, maxima], max_points)
    ]

    by_model: dict[str, list] = {}
    for name, answered_at, probability in runs.order_by("model_name", "answered_at").values_list(
        "model_name", "answered_at", "probability"
    ):
        # The check constraint keeps probabilities in [0, 1]; this guards
        # the JSON against anything that slipped past it.
        if math.isfinite(probability):
            by_model.setdefault(name, []).append((answered_at, probability))
    models: list[ModelSeries] = []
    for name, points in by_model.items():
        values = [p for _, p in points]
        models.append(
            {
                "name": name,
                "points": [
                    [epoch_ms(points[i][0]), _pct(values[i])]
                    for i in downsample_indices([values], max_points)
                ],
            }
        )

    resolution = None
    if question.resolved_at and question.outcome is not None:
        resolution = {"t": epoch_ms(question.resolved_at), "outcome": "YES" if question.outcome else "NO"}
    latest = None
    if snap_rows:
        taken_at, mean = snap_rows[-1][0], snap_rows[-1][1]
        latest = {"t": epoch_ms(taken_at), "iso": taken_at.isoformat(), "mean": _pct(mean)}

    return {
        "range": range_key,
        "count": len(snap_rows),
        "rows": rows,
        "models": models,
        "resolution": resolution,
        "latest": latest,
    }
