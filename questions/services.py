"""A question's lifecycle: draft → open → closed → resolved YES/NO or annulled, and back.

Every status change goes through these functions, from the admin (one question
or a bulk action over thousands) or a management command. The database holds
the invariants (questions.models.Question.Meta.constraints); these functions
hold the allowed transitions and stamp who resolved a question and when.

Bulk functions take a queryset, update it with one statement per transition
and return how many rows changed, so "select all" over every question never
loads them into memory.
"""

import functools
import logging
import time

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Question

logger = logging.getLogger(__name__)

Status = Question.Status

# Which statuses each action may start from.
PUBLISHABLE = (Status.DRAFT,)
CLOSABLE = (Status.OPEN,)
REOPENABLE = (Status.CLOSED,)
RESOLVABLE = (Status.OPEN, Status.CLOSED)
ANNULLABLE = (Status.OPEN, Status.CLOSED, Status.RESOLVED)
UNRESOLVABLE = (Status.RESOLVED, Status.ANNULLED)

# Readers' caches (the page cache, the JSON API) key their entries on these
# numbers. Three counters, so a round of one question does not throw away
# every other page:
# - GENERATION_KEY: bumped by every write readers can see; list pages (home,
#   categories, feeds, API lists) use it;
# - SHARED_KEY: bumped by writes every question page shows (a question's or a
#   category's edit, a resolution that moves a category's track record);
# - question_key(slug): bumped when that question's round result lands.
# A question's own pages use SHARED_KEY and its own key.
GENERATION_KEY = "site:content-generation"
SHARED_KEY = "site:shared-generation"
QUESTION_KEY_PREFIX = "site:question-generation:"

# After a cache error, the cache is skipped for this many seconds: a Redis that
# hangs would otherwise cost every request a socket timeout per cache call.
CACHE_RETRY_SECONDS = 5
_WARNING_INTERVAL = 60.0
_cache_state = {"down_until": 0.0, "warned_at": -_WARNING_INTERVAL}


def question_key(slug):
    return f"{QUESTION_KEY_PREFIX}{slug}"


class TransitionError(ValueError):
    """The question is not in a status the action may start from."""


def cache_call(method, *args, default=None):
    """Call a cache method, or return `default` if the cache backend fails.

    Readers' caches fail open: a slow or absent Redis makes pages slower, never
    a server error. The failure is logged at most once a minute per process.
    """
    now = time.monotonic()
    if now < _cache_state["down_until"]:
        return default
    try:
        return getattr(cache, method)(*args)
    except ValueError:
        raise  # incr of a missing key: the caller's business, not an outage
    except Exception as error:  # noqa: BLE001 - any backend error (redis ConnectionError, TimeoutError, ...)
        _cache_state["down_until"] = now + CACHE_RETRY_SECONDS
        if now - _cache_state["warned_at"] >= _WARNING_INTERVAL:
            _cache_state["warned_at"] = now
            logger.warning("cache unavailable, serving without it: %s: %s", type(error).__name__, error)
        return default


def reset_cache_errors():
    """Forget a cache failure (tests, or an operator who fixed Redis and will not wait)."""
    _cache_state["down_until"] = 0.0
    _cache_state["warned_at"] = -_WARNING_INTERVAL


def _fresh_value():
    # Starting from the clock means a counter lost with the cache restarts above its old values.
    return int(timezone.now().timestamp() * 1000)


def generations(keys):
    """The current value of each generation key, in one round trip; None if the cache is down."""
    values = cache_call("get_many", keys)
    if values is None:
        return None
    missing = [key for key in keys if values.get(key) is None]
    for key in missing:
        cache_call("add", key, _fresh_value(), GENERATION_SECONDS)
    if missing:
        found = cache_call("get_many", missing)
        if found is None:
            return None
        values.update(found)
    return [values.get(key) for key in keys]


def content_generation():
    """The site-wide generation (list pages); None when the cache is unavailable."""
    values = generations([GENERATION_KEY])
    return values[0] if values else None


# Page cache versions this process read recently (forecasts.cache); a bump
# here forgets them at once, a bump elsewhere is seen once they expire.
local_versions = {}

# Generation keys expire when unused (a random slug must not leave a key
# behind forever); one that comes back restarts from the clock, above its old value.
GENERATION_SECONDS = 7 * 24 * 3600


def _bump_now(keys):
    local_versions.clear()
    for key in keys:
        try:
            if cache_call("incr", key, 1, default=True) is True:
                return  # the cache is down: nothing cached can be served either
        except ValueError:
            cache_call("set", key, _fresh_value(), GENERATION_SECONDS)


def _bump(keys):
    """Bump now and again on commit, once per transaction however many rows it writes.

    The second bump drops anything a reader cached from the old rows while the
    transaction was still open. A cascade deleting ten thousand snapshots
    sends ten thousand signals but bumps only once.
    """
    keys = tuple(keys)
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # Only within the same savepoint: a test's wrapping transaction never
        # commits, and each write inside it must still bump.
        current = set(connection.savepoint_ids)
        for sids, func, _robust in connection.run_on_commit:
            if sids == current and getattr(func, "generation_keys", None) == keys:
                return
    _bump_now(keys)
    callback = functools.partial(_bump_now, keys)
    callback.generation_keys = keys
    transaction.on_commit(callback)


def bump_content_generation():
    """Invalidate every cached reader view now and again once the current transaction commits."""
    _bump((GENERATION_KEY, SHARED_KEY))


def bump_question_generation(slug):
    """A question's round result changed: its own pages and the list pages, not the other questions'."""
    _bump((GENERATION_KEY, question_key(slug)))


def _check(question, allowed, action):
    if question.status not in allowed:
        raise TransitionError(f"Cannot {action} a question that is {question.get_status_display().lower()}.")


def _save(question, fields):
    question.save(update_fields=[*fields, "updated_at"])
    bump_content_generation()
    return question


@transaction.atomic
def publish(question, now=None):
    """Open a draft to readers and the panel; keeps a publication time set in advance."""
    _check(question, PUBLISHABLE, "publish")
    question.status = Status.OPEN
    question.published_at = question.published_at or now or timezone.now()
    return _save(question, ["status", "published_at"])


@transaction.atomic
def close(question):
    """Stop new rounds; the question waits for its outcome."""
    _check(question, CLOSABLE, "close")
    question.status = Status.CLOSED
    return _save(question, ["status"])


@transaction.atomic
def reopen(question):
    _check(question, REOPENABLE, "reopen")
    question.status = Status.OPEN
    return _save(question, ["status"])


@transaction.atomic
def resolve(question, outcome, user=None, note=None, source=None, now=None):
    """Record the outcome (True = YES), who decided it and when."""
    if outcome not in (True, False):
        raise TransitionError("A resolution needs an outcome, YES or NO.")
    _check(question, RESOLVABLE, "resolve")
    fields = _decide(question, Status.RESOLVED, outcome, user, note, now)
    if source is not None:
        question.resolution_source = source
        fields.append("resolution_source")
    return _save(question, fields)


@transaction.atomic
def annul(question, user=None, note=None, now=None):
    """The question cannot be resolved fairly: it leaves every track record."""
    _check(question, ANNULLABLE, "annul")
    return _save(question, _decide(question, Status.ANNULLED, None, user, note, now))


def _decide(question, status, outcome, user, note, now):
    """Set what a resolution and an annulment both record; returns the fields to save."""
    question.status = status
    question.outcome = outcome
    question.resolved_at = now or timezone.now()
    question.resolved_by = user
    fields = ["status", "outcome", "resolved_at", "resolved_by"]
    if note is not None:
        question.resolution_note = note
        fields.append("resolution_note")
    return fields


@transaction.atomic
def unresolve(question):
    """Undo a resolution or annulment: the question is closed again and leaves the track record.

    The note and source stay, so an editor correcting a mistake keeps the
    evidence at hand.
    """
    _check(question, UNRESOLVABLE, "un-resolve")
    question.status = Status.CLOSED
    question.outcome = None
    question.resolved_at = None
    question.resolved_by = None
    return _save(question, ["status", "outcome", "resolved_at", "resolved_by"])


# --- Bulk versions for admin actions ----------------------------------------


def _bulk_update(queryset, allowed, **values):
    count = queryset.filter(status__in=allowed).update(updated_at=timezone.now(), **values)
    if count:
        bump_content_generation()
    return count


@transaction.atomic
def publish_many(queryset, now=None):
    published_at = Coalesce("published_at", now or timezone.now())
    return _bulk_update(queryset, PUBLISHABLE, status=Status.OPEN, published_at=published_at)


@transaction.atomic
def close_many(queryset):
    return _bulk_update(queryset, CLOSABLE, status=Status.CLOSED)


@transaction.atomic
def resolve_many(queryset, outcome, user=None, now=None):
    if outcome not in (True, False):
        raise TransitionError("A resolution needs an outcome, YES or NO.")
    return _bulk_update(
        queryset, RESOLVABLE, status=Status.RESOLVED, outcome=outcome,
        resolved_at=now or timezone.now(), resolved_by=user,
    )  # fmt: skip


@transaction.atomic
def annul_many(queryset, user=None, now=None):
    return _bulk_update(
        queryset, ANNULLABLE, status=Status.ANNULLED, outcome=None,
        resolved_at=now or timezone.now(), resolved_by=user,
    )  # fmt: skip


@transaction.atomic
def unresolve_many(queryset):
    return _bulk_update(
        queryset, UNRESOLVABLE, status=Status.CLOSED, outcome=None, resolved_at=None, resolved_by=None
    )


def apply_status_change(question, previous_status, previous_outcome, user=None):
    """Validate and stamp a status picked in the admin form.

    The form has already written the new status and outcome onto `question`;
    this checks the move from the stored values is allowed and fills in the
    resolution stamp, raising TransitionError otherwise.
    """
    new_status, new_outcome = question.status, question.outcome
    if new_status == previous_status and new_outcome == previous_outcome:
        return
    allowed = {
        Status.OPEN: (Status.DRAFT, Status.CLOSED),
        Status.CLOSED: (Status.OPEN, Status.RESOLVED, Status.ANNULLED),
        Status.RESOLVED: (*RESOLVABLE, Status.RESOLVED, Status.ANNULLED),
        Status.ANNULLED: ANNULLABLE,
        Status.DRAFT: (Status.DRAFT,),
    }[new_status]
    if previous_status not in allowed:
        before, after = Status(previous_status).label.lower(), Status(new_status).label.lower()
        raise TransitionError(f"A question cannot go from {before} to {after}.")
    if new_status == Status.RESOLVED and new_outcome is None:
        raise TransitionError("Pick the outcome, YES or NO, to resolve the question.")
    if new_status != Status.RESOLVED:
        question.outcome = None
    if new_status in (Status.RESOLVED, Status.ANNULLED):
        question.resolved_at = timezone.now()
        question.resolved_by = user
    else:
        question.resolved_at = None
        question.resolved_by = None
    if new_status == Status.OPEN and question.published_at is None:
        question.published_at = timezone.now()


def failing_filter(since):
    """Questions with a failed model or a failed round since `since` (the admin's "failing" filter)."""
    from forecasts.models import ModelRun, Round

    return Q(pk__in=ModelRun.objects.failed().filter(answered_at__gte=since).values("question_id")) | Q(
        pk__in=Round.objects.filter(status=Round.Status.FAILED, slot_at__gte=since).values("question_id")
    )
