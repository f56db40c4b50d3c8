"""Rounds: claiming a slot, asking the panel, recording answers, writing the snapshot."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from questions.models import Question

from .aggregation import summarize
from .models import ModelRun, PanelModel, Round, Snapshot
from .providers import Answer, Seat, ask, build_messages

logger = logging.getLogger(__name__)


@transaction.atomic
def close_round(rnd, taken_at=None, is_imported=False):
    """Write the round's Snapshot from its successful ModelRuns and mark it done.

    Idempotent: a round that already has a Snapshot returns it unchanged. With
    no successful answer, no Snapshot is written, the round is marked failed
    and the previous Snapshot stays the question's latest.
    """
    existing = Snapshot.objects.filter(round=rnd).first()
    if existing:
        return existing
    runs = list(rnd.model_runs.all())
    ok = [run.probability for run in runs if run.status == ModelRun.Status.OK]
    failed = sum(1 for run in runs if run.status != ModelRun.Status.OK)
    summary = summarize(ok)
    now = timezone.now()
    if summary is None:
        Round.objects.filter(pk=rnd.pk).update(status=Round.Status.FAILED, finished_at=now)
        rnd.status = Round.Status.FAILED
        logger.warning("round %s failed: none of %d models answered", rnd.pk, failed)
        return None
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(
                question=rnd.question,
                round=rnd,
                taken_at=taken_at or rnd.slot_at,
                mean=summary.mean,
                median=summary.median,
                minimum=summary.minimum,
                maximum=summary.maximum,
                spread=summary.spread,
                models_ok=summary.count,
                models_failed=failed,
                is_imported=is_imported,
            )
    except IntegrityError:
        # Another worker closed the same round first.
        snapshot = Snapshot.objects.get(round=rnd)
    Round.objects.filter(pk=rnd.pk).update(status=Round.Status.DONE, finished_at=now)
    rnd.status = Round.Status.DONE
    return snapshot


# --- Running rounds ----------------------------------------------------------


def claim_round(round_id, now=None):
    """Take a round for this worker, or return None when someone else has it.

    A conditional UPDATE is the claim: of two deliveries of the same task only
    one sees a row count of 1. A round whose worker died (claimed longer ago
    than the lease) can be taken over, and then only its missing models are asked.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.FORECAST_CLAIM_LEASE)
    claimed = (
        Round.objects.filter(pk=round_id)
        .filter(Q(status=Round.Status.PENDING) | Q(status=Round.Status.RUNNING, claimed_at__lt=stale))
        .update(status=Round.Status.RUNNING, claimed_at=now, claims=F("claims") + 1)
    )
    if not claimed:
        return None
    return Round.objects.select_related("question").get(pk=round_id)


def round_is_running(round_id):
    return Round.objects.filter(pk=round_id, status=Round.Status.RUNNING).exists()


def _record(rnd, seat_row, answer):
    defaults = {
        "question_id": rnd.question_id,
        "panel_model": seat_row,
        "status": answer.status,
        "probability": answer.probability if answer.status == ModelRun.Status.OK else None,
        "was_percent": answer.was_percent,
        "rationale": answer.rationale,
        "error_message": answer.error_message,
        "raw_output": answer.raw_output,
        "output_mode": answer.output_mode,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "cost_usd": seat_row.cost_usd(answer.prompt_tokens, answer.completion_tokens) if seat_row else None,
        "latency_ms": answer.latency_ms,
        "attempts": max(answer.attempts, 1),
        "answered_at": timezone.now(),
    }
    # get_or_create on the unique (round, model) pair: a second writer loses quietly.
    try:
        with transaction.atomic():
            run, _ = ModelRun.objects.get_or_create(round=rnd, model_name=seat_row.name, defaults=defaults)
    except DatabaseError as exc:
        # A reply the database will not store must not cost the round the
        # other models' answers: keep the failure, drop the text.
        logger.exception("round %s: could not store %s's reply", rnd.pk, seat_row.name)
        defaults.update(
            status=ModelRun.Status.PROVIDER_ERROR,
            probability=None,
            rationale="",
            raw_output="",
            error_message=f"the reply could not be stored: {type(exc).__name__}",
        )
        run, _ = ModelRun.objects.get_or_create(round=rnd, model_name=seat_row.name, defaults=defaults)
    return run


def ask_panel(rnd, panel_models, now=None, client_factory=None, seconds=None):
    """Ask the given panel models concurrently and record each answer as it arrives."""
    now = now or timezone.now()
    messages = build_messages(rnd.question, now)
    seconds = settings.FORECAST_ROUND_DEADLINE if seconds is None else seconds
    deadline = time.monotonic() + seconds
    seats = {pm.pk: Seat.from_panel_model(pm) for pm in panel_models}
    by_pk = {pm.pk: pm for pm in panel_models}
    pool = ThreadPoolExecutor(max_workers=max(len(seats), 1), thread_name_prefix="panel")
    futures = {pool.submit(ask, seat, messages, deadline, client_factory): pk for pk, seat in seats.items()}
    pending = set(futures)
    try:
        # Slightly past the deadline: ask() itself stops at it, this only
        # catches a call stuck where no timeout reaches.
        for future in as_completed(futures, timeout=seconds + 5):
            pending.discard(future)
            _record(rnd, by_pk[futures[future]], future.result())
    except (FuturesTimeout, SoftTimeLimitExceeded):
        logger.warning("round %s: %d model(s) still silent at the deadline", rnd.pk, len(pending))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for future in pending:
        seat = seats[futures[future]]
        _record(
            rnd,
            by_pk[futures[future]],
            Answer(
                status=ModelRun.Status.TIMEOUT,
                error_message="no answer before the round's deadline",
                attempts=1,
                latency_ms=int(seconds * 1000),
            ),
        )
        logger.warning("round %s: %s timed out at the round deadline", rnd.pk, seat.name)


def run_round(round_id, client_factory=None, seconds=None):
    """Claim a round, ask the models that have not answered in it, write the snapshot.

    Returns the Snapshot, or None when the round was someone else's, the
    question stopped taking forecasts, or no model answered.
    """
    rnd = claim_round(round_id)
    if rnd is None:
        logger.info("round %s is already taken or finished; nothing to do", round_id)
        return None
    if rnd.question.status != rnd.question.Status.OPEN:
        Round.objects.filter(pk=rnd.pk).update(status=Round.Status.FAILED, finished_at=timezone.now())
        logger.info("round %s skipped: the question is %s", rnd.pk, rnd.question.status)
        return None
    answered = set(rnd.model_runs.values_list("model_name", flat=True))
    todo = [pm for pm in PanelModel.objects.active() if pm.name not in answered]
    if todo:
        ask_panel(rnd, todo, client_factory=client_factory, seconds=seconds)
    return close_round(rnd)


def due_questions(now=None, limit=500):
    """Open questions whose current cadence slot has no round yet, with that slot."""
    now = now or timezone.now()
    candidates = list(Question.objects.forecastable(now).only("pk", "cadence_hours").order_by("pk"))
    slots = {q.pk: q.current_slot(now) for q in candidates}
    taken = set(
        Round.objects.filter(question_id__in=list(slots), slot_at__in=set(slots.values())).values_list(
            "question_id", "slot_at"
        )
    )
    due = [(q, slots[q.pk]) for q in candidates if (q.pk, slots[q.pk]) not in taken]
    return due[:limit]


def create_due_rounds(now=None, limit=500):
    """Create this slot's round for every due question; returns the new rounds' ids.

    Two schedulers running by mistake both get here: the unique (question,
    slot) constraint lets exactly one of them create each round.
    """
    now = now or timezone.now()
    created_ids = []
    for question, slot in due_questions(now, limit):
        try:
            with transaction.atomic():
                rnd = Round.objects.create(question=question, slot_at=slot, kind=Round.Kind.SCHEDULED)
        except IntegrityError:
            continue
        created_ids.append(rnd.pk)
    return created_ids


def stranded_round_ids(now=None, limit=500):
    """Rounds whose task was lost or whose worker died: pending or running past the lease."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.FORECAST_CLAIM_LEASE)
    return list(
        Round.objects.filter(
            Q(status=Round.Status.PENDING, created_at__lt=stale)
            | Q(status=Round.Status.RUNNING, claimed_at__lt=stale)
        )
        .exclude(kind=Round.Kind.IMPORTED)
        .values_list("pk", flat=True)[:limit]
    )


def create_manual_round(question, now=None):
    """A round an editor asked for, outside the cadence; its slot is the current second."""
    now = (now or timezone.now()).replace(microsecond=0)
    rnd, _ = Round.objects.get_or_create(question=question, slot_at=now, defaults={"kind": Round.Kind.MANUAL})
    return rnd


def run_rounds_locally(round_ids, client_factory=None):
    """Run rounds in this process, several at once: the embedded mode without a broker."""
    if not round_ids:
        return []

    def work(round_id):
        try:
            return run_round(round_id, client_factory=client_factory)
        finally:
            connection.close()

    workers = max(1, min(settings.FORECAST_LOCAL_CONCURRENCY, len(round_ids)))
    if workers == 1:
        return [run_round(round_id, client_factory=client_factory) for round_id in round_ids]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="round") as pool:
        return list(pool.map(work, round_ids))
