"""Public pages: the home page and a question's page with its lazily loaded parts."""

import re
from datetime import UTC, datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, F, IntegerField, Max, Value, When
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from forecasts import readings, scoring, trajectory
from forecasts.cache import cache_for_readers
from forecasts.models import ModelRun, PanelModel, Round, Snapshot

from .models import Category, Question
from .services import cache_call

HOME_PAGE_SIZE = 20
# Earlier rounds listed under the model cards.
EARLIER_ROUNDS = 12
# Seconds a trajectory stays cached; the key changes with every new snapshot anyway.
TRAJECTORY_CACHE_SECONDS = 3600
RANGE_LABELS = {"1m": "1M", "3m": "3M", "1y": "1Y", "all": "All"}


class HtmxHttpRequest:
    """Type of the request django-htmx decorates (for readers of the code; not enforced)."""

    htmx: HtmxDetails


def _published_question(slug):
    return get_object_or_404(Question.objects.published().select_related("category"), slug=slug)


# --- home ---------------------------------------------------------------------


@require_safe
@vary_on_headers("HX-Request")
@cache_for_readers
def home(request):
    """Open questions first, then closed and resolved ones (most recent first), filterable by category."""
    categories = list(Category.objects.all())
    current = next((c for c in categories if c.slug == request.GET.get("category")), None)
    status = request.GET.get("status", "")
    questions = Question.objects.published().select_related("category").with_latest_snapshot()
    if current:
        questions = questions.in_category(current)
    if status == "open":
        questions = questions.open()
    elif status == "resolved":
        questions = questions.resolved()
    questions = questions.annotate(
        group=Case(
            When(status=Question.Status.OPEN, then=Value(0)),
            When(status=Question.Status.CLOSED, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
    ).order_by(
        "group",
        F("resolved_at").desc(nulls_last=True),
        F("latest_taken_at").desc(nulls_last=True),
        "-pk",
    )
    page = Paginator(questions, HOME_PAGE_SIZE).get_page(request.GET.get("page"))
    for question in page.object_list:
        question.headline_percent = readings.percent(question.latest_mean)
        question.spread_points = readings.points(question.latest_spread)
        question.move = (
            readings.signed_points(question.latest_mean - question.previous_mean)
            if question.latest_mean is not None and question.previous_mean is not None
            else ""
        )
    context = {
        "categories": categories,
        "current_category": current,
        "status": status if status in ("open", "resolved") else "",
        "status_choices": [("", "All"), ("open", "Open"), ("resolved", "Resolved")],
        "page": page,
        "query_prefix": _query_prefix(current, status),
    }
    template = "questions/home.html#results" if request.htmx else "questions/home.html"
    return render(request, template, context)


def _query_prefix(category, status):
    """The filter part of a page link, so that paging keeps the filters."""
    parts = []
    if category:
        parts.append(f"category={category.slug}")
    if status in ("open", "resolved"):
        parts.append(f"status={status}")
    return "&".join(parts) + ("&" if parts else "")


# --- the question page -----------------------------------------------------------


def _panel_order(cards):
    """Active panel models in their panel order, then any other model (imported ones) by name."""
    positions = dict(PanelModel.objects.active().values_list("name", "position"))
    return sorted(
        cards,
        key=lambda card: (
            (0, positions[card["name"]], card["name"]) if card["name"] in positions else (1, 0, card["name"])
        ),
    )


def _cards(question, runs, shown_round):
    failed = [run.model_name for run in runs if not run.is_ok]
    last_ok = {}
    if failed:
        last_ok = dict(
            ModelRun.objects.ok()
            .filter(question=question, model_name__in=failed, answered_at__lte=shown_round.slot_at)
            .values("model_name")
            .annotate(last=Max("answered_at"))
            .values_list("model_name", "last")
        )
    cards = [
        {
            "name": run.model_name,
            "ok": run.is_ok,
            "percent": readings.percent(run.probability) if run.is_ok else None,
            "answered_at": run.answered_at,
            "rationale": run.rationale if run.is_ok else "",
            # The kind of failure only; the error message is for editors.
            "failure": "" if run.is_ok else run.get_status_display(),
            "last_ok_at": last_ok.get(run.model_name),
        }
        for run in runs
    ]
    return _panel_order(cards)


def _snapshots_newest_first(question):
    return Snapshot.objects.filter(question=question).order_by("-taken_at", "-pk")


def _detail_context(request, question, lazy=True):
    latest = (
        Snapshot.objects.filter(question=question)
        .order_by("-taken_at", "-pk")
        .select_related("round")
        .first()
    )
    finished = (Round.Status.DONE, Round.Status.FAILED)
    rounds = list(
        Round.objects.filter(question=question, status__in=finished)
        .select_related("snapshot")
        .order_by("-slot_at")[: EARLIER_ROUNDS + 1]
    )
    for rnd in rounds:
        snapshot = getattr(rnd, "snapshot", None)
        rnd.percent = readings.percent(snapshot.mean) if snapshot else None
    shown_round = rounds[0] if rounds else None
    requested = request.GET.get("round", "")
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if re.fullmatch(r"[0-9]{1,18}", requested):
        shown_round = get_object_or_404(
            Round.objects.select_related("snapshot"),
            question=question,
            status__in=finished,
            pk=int(requested),
        )
    runs = list(ModelRun.objects.filter(round=shown_round)) if shown_round else []

    if latest and shown_round and latest.round_id == shown_round.pk:
        latest_answers = [(run.model_name, run.probability) for run in runs if run.is_ok]
    elif latest:
        latest_answers = list(
            ModelRun.objects.ok().filter(round_id=latest.round_id).values_list("model_name", "probability")
        )
    else:
        latest_answers = []

    context = {
        "question": question,
        "latest": latest,
        "headline_percent": readings.percent(latest.mean) if latest else None,
        "brier": scoring.brier(latest.mean, question.outcome) if latest and question.is_resolved else None,
        "stability": readings.stability(question, latest),
        "agreement": readings.agreement(latest, sorted(latest_answers)),
        "shown_round": shown_round,
        "is_latest_round": bool(rounds) and shown_round == rounds[0],
        "cards": _cards(question, runs, shown_round) if shown_round else [],
        "rounds": rounds,
        "lazy": lazy,
        "ranges": RANGE_LABELS,
    }
    if not lazy:
        context.update(_trajectory_context(question, request.GET.get("range")), table_open=True)
        context.update(_track_record_context(question))
    return context


@require_safe
@vary_on_headers("HX-Request")
@cache_for_readers
def detail(request, slug):
    question = _published_question(slug)
    return render(request, "questions/detail.html", _detail_context(request, question))


# --- lazily loaded parts ------------------------------------------------------
# Each one answers an HTMX request with its fragment and a plain request with
# the whole question page, that part included: readers without JavaScript
# follow a link to it.


def _cached_trajectory(question, range_key):
    if range_key not in trajectory.RANGES:
        range_key = trajectory.DEFAULT_RANGE
    marker = (
        Snapshot.objects.filter(question=question)
        .order_by("-taken_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    # A new snapshot or an edit to the question (its resolution) changes the key.
    key = f"trajectory:{question.pk}:{range_key}:{marker}:{question.updated_at.timestamp()}"
    # Fails open: with the cache down the trajectory is built every time, never a 500.
    data = cache_call("get", key)
    if data is None:
        data = trajectory.build_trajectory(question, range_key)
        cache_call("set", key, data, TRAJECTORY_CACHE_SECONDS)
    return data


def _trajectory_context(question, range_key):
    data = _cached_trajectory(question, range_key)
    table = [
        {
            "at": datetime.fromtimestamp(row["t"] / 1000, tz=UTC),
            "mean": row["mean"],
            "min": row["min"],
            "max": row["max"],
        }
        for row in data["rows"]
    ]
    latest = data["latest"]
    return {
        "trajectory": data,
        "trajectory_table": table,
        "trajectory_latest_at": datetime.fromtimestamp(latest["t"] / 1000, tz=UTC) if latest else None,
        "trajectory_latest_percent": readings.percent(latest["mean"] / 100) if latest else None,
        "trajectory_is_downsampled": len(table) < data["count"],
        "ranges": RANGE_LABELS,
    }


def _track_record_context(question):
    return {"confidence": readings.confidence(question.category)}


def _part_or_page(request, slug, partial, part_context):
    """A lazy part: its fragment for HTMX, the whole question page with it included otherwise."""
    question = _published_question(slug)
    if request.htmx:
        return render(
            request, f"questions/detail.html#{partial}", {"question": question, **part_context(question)}
        )
    return render(request, "questions/detail.html", _detail_context(request, question, lazy=False))


@require_safe
@vary_on_headers("HX-Request")
@cache_for_readers
def trajectory_fragment(request, slug):
    return _part_or_page(
        request, slug, "trajectory", lambda q: _trajectory_context(q, request.GET.get("range"))
    )


@require_safe
@vary_on_headers("HX-Request")
@cache_for_readers
def track_record(request, slug):
    return _part_or_page(request, slug, "track-record", _track_record_context)


@require_safe
@cache_for_readers
def trajectory_json(request, slug):
    """The chart's data. Refuses to write NaN rather than send JSON browsers reject."""
    question = _published_question(slug)
    data = _cached_trajectory(question, request.GET.get("range"))
    return JsonResponse(data, json_dumps_params={"allow_nan": False})


# --- editor tools -------------------------------------------------------------
# Loaded lazily into the question page for signed-in editors only; anonymous
# pages stay cacheable and never carry a CSRF token.


def _editor_question(request, slug):
    if not (request.user.is_authenticated and request.user.is_staff):
        raise PermissionDenied
    question = get_object_or_404(Question.objects.select_related("category"), slug=slug)
    if not request.user.has_perm("questions.change_question"):
        raise PermissionDenied
    return question


def _editor_context(question, message=""):
    last_round = question.rounds.order_by("-slot_at").first()
    return {
        "question": question,
        "last_round": last_round,
        "can_run": question.status == Question.Status.OPEN,
        "message": message,
    }


@require_safe
@vary_on_headers("HX-Request")
def editor_tools(request, slug):
    question = _editor_question(request, slug)
    template = "questions/_editor_tools.html" if request.htmx else "questions/editor_tools.html"
    return render(request, template, _editor_context(question))


@require_POST
def run_now(request, slug):
    """Queue a round outside the cadence: the editor's "Re-run forecast now"."""
    from forecasts.tasks import run_question_now

    question = _editor_question(request, slug)
    if question.status != Question.Status.OPEN:
        message = f"Not queued: the question is {question.get_status_display().lower()}."
    else:
        run_question_now.delay_on_commit(question.pk)
        message = "Queued a new round; the page shows it when the models have answered."
    if not request.htmx:
        messages.info(request, message)
        return redirect(question.get_absolute_url())
    return render(request, "questions/_editor_tools.html", _editor_context(question, message))
