"""RSS 2.0 and Atom feeds: every updated forecast, one per category, one per question, and big movers.

An item is one event: a question was published, its forecast moved by at
least the threshold since the round before, or it was resolved or annulled.
Events are derived from the current rows, so an un-resolved question's
resolution item disappears, and every GUID is built from the site's URL and
the row behind the event, never from the request, so it stays the same
across fetches, hosts and rebuilds.
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Abs
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.feedgenerator import Atom1Feed

from forecasts import readings, scoring, thresholds
from forecasts.cache import cache_for_readers
from forecasts.models import ModelRun, Snapshot

from .models import Category, Question

ITEMS = 30
# Said in every channel and item when bin/run answers with the local replay server.
REPLAY_NOTICE = (
    "Demo mode: model answers are replayed from recordings by a local server, not asked of live models."
)
MIN_MOVE_RANGE = (1.0, 100.0)


class InvalidParameter(ValueError):
    pass


def parse_min_move(value):
    """The ?min_move= threshold in points; junk or out-of-range values are the caller's error, not ours."""
    if value is None or value == "":
        return float(thresholds.FEED_DEFAULT_MOVE_POINTS)
    try:
        number = float(value)
    except ValueError:
        raise InvalidParameter(f"min_move must be a number of points, not {value!r}.") from None
    low, high = MIN_MOVE_RANGE
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidParameter(f"min_move must be between {low:g} and {high:g} points.")
    return number


def as_utc(moment):
    """Feed dates always carry a zone; a naive value (an old import) is taken to be UTC."""
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def site_url(path):
    return settings.SITE_URL.rstrip("/") + path


@dataclass
class Scope:
    """What one request asked for; built per request so the shared Feed instance keeps no state."""

    title: str
    link: str
    description: str
    questions: object  # a Question queryset
    min_move: float
    kinds: tuple = ("new", "move", "resolved", "annulled")


@dataclass
class Event:
    kind: str
    question: Question
    at: datetime
    guid: str
    snapshot: Snapshot | None = None
    previous_mean: float | None = None
    # Filled in by attach_readings, for all events at once.
    runs: list = field(default_factory=list)
    stability: readings.Stability | None = None
    confidence: readings.Confidence | None = None


def move_events(questions, min_move, limit=ITEMS):
    """Snapshots whose average moved at least `min_move` points since the question's previous one."""
    previous = Snapshot.objects.filter(
        question=OuterRef("question"), taken_at__lt=OuterRef("taken_at")
    ).order_by("-taken_at")
    rows = (
        Snapshot.objects.filter(question__in=questions.values("pk"))
        .annotate(previous_mean=Subquery(previous.values("mean")[:1]))
        .filter(previous_mean__isnull=False)
        .annotate(move=Abs(F("mean") - F("previous_mean")))
        # Half a point of slack: the title shows the move rounded, and that is what the threshold compares.
        .filter(move__gte=(min_move - 0.5) / 100 - 1e-9)
        .select_related("question__category", "round")
        .order_by("-taken_at", "-pk")[:limit]
    )
    events = []
    for snap in rows:
        if readings.points(abs(snap.mean - snap.previous_mean)) < min_move:
            continue
        url = site_url(snap.question.get_absolute_url())
        events.append(
            Event("move", snap.question, snap.taken_at, f"{url}#snapshot-{snap.pk}", snap, snap.previous_mean)
        )
    return events


def question_events(questions, kinds, limit=ITEMS):
    """Publication and resolution events, each with the question's latest snapshot."""
    events = []
    if "new" in kinds:
        for question in questions.select_related("category").order_by("-published_at", "-pk")[:limit]:
            url = site_url(question.get_absolute_url())
            events.append(Event("new", question, question.published_at, f"{url}#published"))
    decided = [k for k in ("resolved", "annulled") if k in kinds]
    if decided:
        rows = (
            questions.filter(status__in=decided, resolved_at__isnull=False)
            .select_related("category")
            .order_by("-resolved_at", "-pk")[:limit]
        )
        for question in rows:
            url = site_url(question.get_absolute_url())
            # A question resolved again after an un-resolution is a new event with a new GUID.
            stamp = int(as_utc(question.resolved_at).timestamp())
            events.append(
                Event(question.status, question, question.resolved_at, f"{url}#{question.status}-{stamp}")
            )
    latest = Snapshot.objects.filter(question=OuterRef("pk")).order_by("-taken_at", "-pk")
    ids = {e.question.pk for e in events}
    latest_ids = (
        Question.objects.filter(pk__in=ids)
        .annotate(snap=Subquery(latest.values("pk")[:1]))
        .values_list("pk", "snap")
    )
    by_question = dict(latest_ids)
    snapshots = Snapshot.objects.select_related("round").in_bulk([s for s in by_question.values() if s])
    for event in events:
        event.snapshot = snapshots.get(by_question.get(event.question.pk))
    return events


def collect_events(scope):
    events = []
    if "move" in scope.kinds:
        events += move_events(scope.questions, scope.min_move)
    events += question_events(scope.questions, scope.kinds)
    events.sort(key=lambda e: (as_utc(e.at), e.guid), reverse=True)
    return events[:ITEMS]


def attach_readings(events):
    """Each event's model runs and readings, in a few queries however many events there are.

    The same figures readings.stability and readings.confidence give one
    question at a time (a feed of 30 items used to cost about 100 queries).
    """
    snapshots = [e.snapshot for e in events if e.snapshot is not None]
    runs_by_round = {}
    if snapshots:
        runs = ModelRun.objects.filter(round_id__in={s.round_id for s in snapshots}).order_by("model_name")
        for run in runs:
            runs_by_round.setdefault(run.round_id, []).append(run)
    stabilities = readings.stabilities(
        [(e.question.pk, e.snapshot) for e in events if e.snapshot is not None]
    )
    confidences = _confidences({e.question.category_id for e in events if e.snapshot is not None})
    for event in events:
        if event.snapshot is None:
            continue
        event.runs = runs_by_round.get(event.snapshot.round_id, [])
        event.stability = stabilities[(event.question.pk, event.snapshot.pk)]
        event.confidence = confidences[event.question.category_id]


def _confidences(category_ids):
    """readings.confidence for several categories in one query."""
    pairs = {pk: [] for pk in category_ids}
    if category_ids:
        rows = scoring.scored_questions().filter(category_id__in=category_ids)
        for category_id, mean, outcome in rows.values_list("category_id", "final_mean", "outcome"):
            pairs[category_id].append((mean, outcome))
    result = {}
    for pk, category_pairs in pairs.items():
        # As readings.confidence builds it from scoring.category_track_record.
        record = scoring.TrackRecord.from_pairs(category_pairs)
        result[pk] = readings.Confidence(
            n=record.n,
            brier=record.brier,
            log_score=record.log_score,
            no_skill_brier=getattr(record, "no_skill_brier", thresholds.NO_SKILL_BRIER),
            is_building=record.is_building,
        )
    return result


def item_title(event):
    title = event.question.title
    if event.kind == "move":
        delta = event.snapshot.mean - event.previous_mean
        return f"{readings.points(event.snapshot.mean)}% ({readings.signed_points(delta)}): {title}"
    if event.kind == "resolved":
        return f"Resolved {event.question.outcome_label}: {title}"
    if event.kind == "annulled":
        return f"Annulled: {title}"
    if event.snapshot is not None:
        return f"New question, {readings.points(event.snapshot.mean)}%: {title}"
    return f"New question: {title}"


class ForecastFeed(Feed):
    """Every updated forecast on the site."""

    description_template = "feeds/item_description.html"
    author_name = "forecastsite"

    @method_decorator(cache_for_readers)
    def __call__(self, request, *args, **kwargs):
        try:
            return super().__call__(request, *args, **kwargs)
        except InvalidParameter as error:
            return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")

    def get_object(self, request, *args, **kwargs):
        return Scope(
            title="forecastsite: updated forecasts",
            link=reverse("questions:home"),
            description="New questions, forecasts that moved and resolutions.",
            questions=Question.objects.published(),
            min_move=parse_min_move(request.GET.get("min_move")),
        )

    def title(self, obj):
        return obj.title

    def link(self, obj):
        return obj.link

    def description(self, obj):
        if settings.FORECAST_REPLAY:
            return f"{obj.description} {REPLAY_NOTICE}"
        return obj.description

    subtitle = description

    def feed_guid(self, obj):
        return site_url(obj.link)

    def get_feed(self, obj, request):
        feed = super().get_feed(obj, request)
        if settings.FORECAST_REPLAY:
            # Each item too: readers often see an item without its channel.
            for item in feed.items:
                item["description"] = f"<p>{REPLAY_NOTICE}</p>\n{item['description']}"
        return feed

    def items(self, obj):
        events = collect_events(obj)
        attach_readings(events)
        return events

    def item_title(self, item):
        return item_title(item)

    def item_link(self, item):
        return item.question.get_absolute_url()

    def item_guid(self, item):
        return item.guid

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return as_utc(item.at)

    def item_updateddate(self, item):
        return as_utc(item.at)

    def item_categories(self, item):
        return [item.question.category.name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        event = kwargs["item"]
        snapshot = event.snapshot
        context.update(
            event=event,
            question=event.question,
            snapshot=snapshot,
            headline=readings.points(snapshot.mean) if snapshot else None,
            move=readings.signed_points(snapshot.mean - event.previous_mean) if event.kind == "move" else "",
            confidence=event.confidence,
            stability=event.stability,
            agreement=readings.agreement(
                snapshot, [(r.model_name, r.probability) for r in event.runs if r.is_ok]
            ),
            runs=event.runs,
        )
        return context


class ForecastAtomFeed(ForecastFeed):
    feed_type = Atom1Feed


class MoversFeed(ForecastFeed):
    """Only forecasts that moved, by at least ?min_move= points."""

    def get_object(self, request, *args, **kwargs):
        min_move = parse_min_move(request.GET.get("min_move"))
        return Scope(
            title=f"forecastsite: forecasts that moved {min_move:g} points or more",
            link=reverse("questions:home"),
            description=f"Every forecast whose average moved by at least {min_move:g} points in one round.",
            questions=Question.objects.published(),
            min_move=min_move,
            kinds=("move",),
        )


class MoversAtomFeed(MoversFeed):
    feed_type = Atom1Feed


class CategoryFeed(ForecastFeed):
    def get_object(self, request, slug):
        category = get_object_or_404(Category, slug=slug)
        return Scope(
            title=f"forecastsite: {category.name}",
            link=category.get_absolute_url(),
            description=f"New questions, forecasts that moved and resolutions in {category.name}.",
            questions=Question.objects.published().in_category(category),
            min_move=parse_min_move(request.GET.get("min_move")),
        )


class CategoryAtomFeed(CategoryFeed):
    feed_type = Atom1Feed


class QuestionFeed(ForecastFeed):
    def get_object(self, request, slug):
        question = get_object_or_404(Question.objects.published(), slug=slug)
        return Scope(
            title=f"forecastsite: {question.title}",
            link=question.get_absolute_url(),
            description="How the panel's forecast for this question moves, and its resolution.",
            questions=Question.objects.published().filter(pk=question.pk),
            min_move=parse_min_move(request.GET.get("min_move")),
        )


class QuestionAtomFeed(QuestionFeed):
    feed_type = Atom1Feed
