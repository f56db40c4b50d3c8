"""The belief trajectory: a question's snapshots as chart series, bounded in size.

A question asked hourly for three years has about 26,000 snapshots and four
times as many model answers. Sending all of them would freeze the reader's
browser, so every series is downsampled in the database to at most `MAX_POINTS`
points, keeping the first point, the last point and the extremes of each
stretch of history so that no peak or trough disappears.

Times are epoch milliseconds (UTC): the browser shows them in the reader's
own time zone. Values are percentages with one decimal. A failed model has no
point at all in a round, never a null or NaN value.
"""

import math
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

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


def _bucket_count(max_points):
    # Two rows per stretch (its low and its high) plus the first and last rows.
    return max(1, (max_points - 2) // 2)


# Rows in range are numbered in time order and cut into equal stretches
# (`buckets` of them once there are more than `max_points` rows; one row each
# otherwise). Each stretch keeps the rows where the value reaches its minimum
# and its maximum; the first and last rows are always kept. All in the
# database, so ten thousand snapshots cost a sort there, not ten thousand
# Python objects. The same SQL runs on PostgreSQL and SQLite (window functions).
_SNAPSHOT_SQL = """
SELECT id, taken_at, mean, minimum, maximum, n, band_low, band_high FROM (
    SELECT id, taken_at, mean, minimum, maximum, rn, n,
        MIN(minimum) OVER (PARTITION BY b) AS band_low,
        MAX(maximum) OVER (PARTITION BY b) AS band_high,
        ROW_NUMBER() OVER (PARTITION BY b ORDER BY mean, taken_at) AS r_low,
        ROW_NUMBER() OVER (PARTITION BY b ORDER BY mean DESC, taken_at) AS r_high
    FROM (
        SELECT id, taken_at, mean, minimum, maximum, rn, n,
            CASE WHEN n <= %(max_points)s THEN rn ELSE ((rn - 1) * %(buckets)s) / n END AS b
        FROM (
            SELECT id, taken_at, mean, minimum, maximum,
                ROW_NUMBER() OVER (ORDER BY taken_at, id) AS rn,
                COUNT(*) OVER () AS n
            FROM {table}
            WHERE question_id = %(question)s AND taken_at >= %(since)s
        ) numbered
    ) bucketed
) ranked
WHERE r_low = 1 OR r_high = 1 OR rn = 1 OR rn = n
ORDER BY taken_at, id
"""

# A model's point sits at its round's time, on the same x as the average it
# went into; runs of rounds with no snapshot (imported runs outside the panel)
# are not on the chart.
_RUN_SQL = """
SELECT id, model_name, at, probability FROM (
    SELECT id, model_name, at, probability, rn, n,
        ROW_NUMBER() OVER (PARTITION BY model_name, b ORDER BY probability, at) AS r_low,
        ROW_NUMBER() OVER (PARTITION BY model_name, b ORDER BY probability DESC, at) AS r_high
    FROM (
        SELECT id, model_name, at, probability, rn, n,
            CASE WHEN n <= %(max_points)s THEN rn ELSE ((rn - 1) * %(buckets)s) / n END AS b
        FROM (
            SELECT r.id, r.model_name, s.taken_at AS at, r.probability,
                ROW_NUMBER() OVER (PARTITION BY r.model_name ORDER BY s.taken_at, r.id) AS rn,
                COUNT(*) OVER (PARTITION BY r.model_name) AS n
            FROM {table} r JOIN {snapshots} s ON s.round_id = r.round_id
            WHERE r.question_id = %(question)s AND r.status = %(ok)s AND r.probability IS NOT NULL
                AND s.taken_at >= %(since)s
        ) numbered
    ) bucketed
) ranked
WHERE r_low = 1 OR r_high = 1 OR rn = 1 OR rn = n
ORDER BY model_name, at, id
"""

# Earlier than any snapshot: the "all" range needs no second query shape.
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def _aware(value):
    """A datetime from a raw row: PostgreSQL gives it aware, SQLite gives UTC text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _params(question, since, max_points):
    return {
        "question": question.pk,
        # As the ORM would write it: SQLite compares datetimes as text.
        "since": connection.ops.adapt_datetimefield_value(since or _BEGINNING),
        "max_points": max_points,
        "buckets": _bucket_count(max_points),
        "ok": ModelRun.Status.OK.value,
    }


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
    """The chart's data for one question: mean, min-max band and one line per model.

    Over `max_points` snapshots, each kept row carries the lowest minimum and
    highest maximum of its stretch, so the band never loses an extreme either.
    """
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    params = _params(question, _since(question, range_key), max_points)

    # Plain rows, not model instances: turning thousands of rows into
    # objects would cost more than the query.
    with connection.cursor() as cursor:
        cursor.execute(_SNAPSHOT_SQL.format(table=Snapshot._meta.db_table), params)
        snapshots = cursor.fetchall()
        cursor.execute(
            _RUN_SQL.format(table=ModelRun._meta.db_table, snapshots=Snapshot._meta.db_table), params
        )
        runs = cursor.fetchall()
    count = snapshots[0][5] if snapshots else 0
    sampled = count > max_points
    rows: list[Row] = [
        {
            "t": epoch_ms(_aware(taken_at)),
            "mean": _pct(mean),
            "min": _pct(band_low if sampled else minimum),
            "max": _pct(band_high if sampled else maximum),
        }
        for _id, taken_at, mean, minimum, maximum, _n, band_low, band_high in snapshots
    ]

    by_model: dict[str, list] = {}
    for _id, name, answered_at, probability in runs:
        # The check constraint keeps probabilities in [0, 1]; this guards
        # the JSON against anything that slipped past it.
        if math.isfinite(probability):
            by_model.setdefault(name, []).append([epoch_ms(_aware(answered_at)), _pct(probability)])
    models: list[ModelSeries] = [{"name": name, "points": points} for name, points in by_model.items()]

    resolution = None
    if question.resolved_at and question.outcome is not None:
        resolution = {"t": epoch_ms(question.resolved_at), "outcome": "YES" if question.outcome else "NO"}
    latest = None
    if snapshots:
        taken_at, mean = _aware(snapshots[-1][1]), snapshots[-1][2]
        latest = {"t": epoch_ms(taken_at), "iso": taken_at.isoformat(), "mean": _pct(mean)}

    return {
        "range": range_key,
        "count": count,
        "rows": rows,
        "models": models,
        "resolution": resolution,
        "latest": latest,
    }
