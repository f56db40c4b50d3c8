"""The read-only JSON API, version 1: thin GET views over published questions.

Every response is cached briefly under a key that includes the content
generation (questions.services), so a resolution, an un-resolution or a new
round shows at once while repeated reads cost one cache hit. Bad parameters
are the client's error (400 with a JSON body), never a 500.
"""

import csv
import functools
from datetime import UTC, datetime, time

from django.conf import settings
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_safe

from forecasts.cache import version_for_path
from forecasts.models import ModelRun, Snapshot
from questions.models import Category, Question
from questions.services import cache_call

from . import serializers
from .openapi import build_document

# API answers are cached at most a minute (less when the site caches less).
API_CACHE_MAX_SECONDS = 60


def cache_seconds():
    return min(settings.CACHE_SECONDS, API_CACHE_MAX_SECONDS)


DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000
DETAIL_SNAPSHOTS = 50
CSV_MAX_ROWS = 100_000
PUBLIC_STATUSES = [s for s in Question.Status.values if s != Question.Status.DRAFT]


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status, message):
    return JsonResponse({"error": {"status": status, "message": message}}, status=status)


def api_view(view):
    """GET only, JSON errors, and a short cache keyed on the full URL and the content generation."""

    @require_safe
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        # A question's own endpoints follow its generation, lists the site's (forecasts.cache).
        version = version_for_path(request.path_info)
        key = f"api:v1:{version}:{request.get_full_path()}" if version else None
        # The cache fails open: with Redis down the API answers from the database.
        hit = cache_call("get", key) if key else None
        if hit is not None:
            content_type, body = hit
            response = HttpResponse(body, content_type=content_type)
        else:
            try:
                response = view(request, *args, **kwargs)
            except ApiError as error:
                return error_response(error.status, error.message)
            if response.status_code == 200 and key:
                cache_call("set", key, (response["Content-Type"], response.content), cache_seconds())
        patch_cache_control(response, public=True, max_age=cache_seconds())
        patch_vary_headers(response, ["Accept"])
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return wrapper


def _int_param(request, name, default, low, high):
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer.") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}.")
    return value


def _page(request, queryset, serialize):
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
    count = queryset.count()
    rows = list(queryset[offset : offset + limit])

    def link(new_offset):
        params = request.GET.copy()
        params["limit"], params["offset"] = str(limit), str(new_offset)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    return JsonResponse(
        {
            "replayed": serializers.replayed(),
            "count": count,
            "limit": limit,
            "offset": offset,
            "next": link(offset + limit) if offset + limit < count else None,
            "previous": link(max(offset - limit, 0)) if offset > 0 else None,
            "results": [serialize(row) for row in rows],
        }
    )


def _parse_since(raw):
    """An ISO 8601 date or datetime; without a zone it is read as UTC."""
    # RFC 3339 allows a lowercase t and z; Python's parser does not.
    raw = raw.strip().upper()
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            moment = datetime.combine(day, time.min) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise ApiError(400, "updated_since must be an ISO 8601 date or date-time, e.g. 2026-01-31T00:00:00Z.")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    # The database takes UTC; an offset at the edge of the calendar clamps to its end.
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == 1 else datetime.max).replace(tzinfo=UTC)


def _question(slug):
    question = (
        Question.objects.published().select_related("category").with_latest_snapshot().filter(slug=slug)
    )
    question = question.first()
    if question is None:
        raise ApiError(404, "No published question has this slug.")
    return question


@api_view
def index(request):
    """Where a program starts: every endpoint, the document describing them, and whether answers are replayed."""

    def url(name, *args):
        return request.build_absolute_uri(reverse(f"api:{name}", args=args))

    question = url("question", "SLUG").replace("SLUG", "{slug}")
    return JsonResponse(
        {
            "name": "forecastsite API",
            "version": "1",
            "replayed": serializers.replayed(),
            "openapi": url("openapi"),
            "endpoints": {
                "categories": url("categories"),
                "questions": url("questions"),
                "question": question,
                "snapshots": question + "snapshots/",
                "model_runs": question + "model-runs/",
                "trajectory_csv": question + "trajectory.csv",
                "model_runs_csv": question + "model-runs.csv",
                "track_records": url("track-records"),
            },
        },
        json_dumps_params={"indent": 1},
    )


@api_view
def openapi(request):
    return JsonResponse(
        build_document(request.build_absolute_uri("/api/v1")), json_dumps_params={"indent": 1}
    )


@api_view
def categories(request):
    return _page(
        request, Category.objects.order_by("order", "name"), lambda c: serializers.category(c, request)
    )


@api_view
def questions(request):
    qs = Question.objects.published().select_related("category").with_latest_snapshot()
    slug = request.GET.get("category")
    if slug:
        # An unknown slug is a filter that matches nothing, as the document says.
        qs = qs.filter(category__slug=slug)
    status = request.GET.get("status")
    if status:
        if status not in PUBLIC_STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(PUBLIC_STATUSES)}.")
        qs = qs.filter(status=status)
    since = request.GET.get("updated_since")
    if since:
        moment = _parse_since(since)
        qs = qs.filter(Q(updated_at__gte=moment) | Q(latest_taken_at__gte=moment))
    qs = qs.order_by("-published_at", "-pk")
    return _page(request, qs, lambda q: serializers.question_summary(q, request))


@api_view
def question(request, slug):
    q = _question(slug)
    snapshots = Snapshot.objects.filter(question=q).order_by("-taken_at", "-pk")[:DETAIL_SNAPSHOTS]
    latest_round = Snapshot.objects.filter(question=q).order_by("-taken_at", "-pk").values("round_id")[:1]
    runs = ModelRun.objects.filter(round__in=latest_round).order_by("model_name")
    return JsonResponse(serializers.question_detail(q, request, snapshots, runs))


@api_view
def snapshots(request, slug):
    q = _question(slug)
    return _page(
        request, Snapshot.objects.filter(question=q).order_by("-taken_at", "-pk"), serializers.snapshot
    )


@api_view
def model_runs(request, slug):
    q = _question(slug)
    runs = ModelRun.objects.filter(question=q).order_by("-answered_at", "model_name", "-pk")
    return _page(request, runs, serializers.model_run)


def _csv_response(filename, header, rows):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(cell) for cell in row])
    return response


def _csv_cell(value):
    # Model text is untrusted: a leading =, +, - or @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@api_view
def trajectory_csv(request, slug):
    q = _question(slug)
    rows = (
        Snapshot.objects.filter(question=q)
        .order_by("taken_at")
        .values_list(
            "taken_at", "mean", "median", "minimum", "maximum", "spread", "models_ok", "models_failed"
        )
        .iterator()
    )
    return _csv_response(
        f"{q.slug}-trajectory.csv",
        ["taken_at", "mean", "median", "minimum", "maximum", "spread", "models_ok", "models_failed"],
        ((serializers.iso(r[0]), *(serializers.fraction(v) for v in r[1:6]), *r[6:]) for r in _bounded(rows)),
    )


@api_view
def model_runs_csv(request, slug):
    q = _question(slug)
    rows = (
        ModelRun.objects.filter(question=q)
        .order_by("answered_at", "model_name")
        .values_list("answered_at", "round_id", "model_name", "status", "probability", "rationale")
        .iterator()
    )
    return _csv_response(
        f"{q.slug}-model-runs.csv",
        ["answered_at", "round_id", "model", "status", "probability", "rationale"],
        (
            (
                serializers.iso(r[0]),
                r[1],
                r[2],
                r[3],
                serializers.fraction(r[4]),
                r[5] if r[3] == "ok" else "",
            )
            for r in _bounded(rows)
        ),
    )


def _bounded(rows):
    for index, row in enumerate(rows):
        if index >= CSV_MAX_ROWS:
            return
        yield row


@api_view
def track_records(request):
    from forecasts import scoring

    cats = list(Category.objects.order_by("order", "name"))
    data = {
        "replayed": serializers.replayed(),
        "overall": serializers.track_record(scoring.overall_track_record()),
        "categories": [
            {"category": c.slug, "name": c.name, **serializers.track_record(scoring.category_track_record(c))}
            for c in cats
        ],
        "models": [
            {
                "model": record.model_name,
                "model_record": serializers.track_record(record.overall.model),
                "panel_record": serializers.track_record(record.overall.panel),
            }
            for record in scoring.model_records()
        ],
    }
    return JsonResponse(data)
