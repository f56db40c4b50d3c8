"""Celery tasks: each takes ids, calls one service and returns.

Provider errors are handled inside the services (a Celery retry would repeat
the models that already answered); these tasks never retry themselves.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from . import services

logger = logging.getLogger(__name__)

DISPATCH_LOCK = "forecasts:dispatch-lock"


def round_seconds(task):
    """How long a round may wait for its models: inside the task's soft time limit.

    The soft limit's signal is the last resort; a round that keeps its own
    deadline below it ends cleanly, recording stragglers as timeouts.
    """
    seconds = settings.FORECAST_ROUND_DEADLINE
    if task.request.is_eager:
        return seconds
    soft = (task.request.timelimit or (None, None))[1] or settings.CELERY_TASK_SOFT_TIME_LIMIT
    if soft:
        seconds = min(seconds, max(soft - 2, soft * 0.5))
    return seconds


@shared_task(name="forecasts.tasks.run_round", bind=True, max_retries=2)
def run_round(self, round_id):
    snapshot = services.run_round(round_id, seconds=round_seconds(self))
    if snapshot is None and not self.request.is_eager and services.round_is_running(round_id):
        # Someone else holds the claim. If that worker died mid-round, late
        # acknowledgement has redelivered the task at once, while the dead
        # claim is still fresh: look again once its lease has run out.
        raise self.retry(countdown=settings.FORECAST_CLAIM_LEASE + 5)
    return snapshot.pk if snapshot else None


@shared_task(name="forecasts.tasks.dispatch_due_rounds")
def dispatch_due_rounds(limit=500):
    """Create this slot's rounds for due questions and fan out one task per round.

    The cache lock keeps two overlapping dispatches (two beats, or a slow one)
    from doing the work twice; the unique (question, slot) constraint would
    catch it anyway, this only saves the queries.
    """
    if not cache.add(DISPATCH_LOCK, "1", timeout=300):
        logger.info("another dispatch is running; skipping")
        return 0
    try:
        round_ids = services.create_due_rounds(limit=limit)
        round_ids += services.stranded_round_ids(limit=limit)
        for round_id in round_ids:
            run_round.delay_on_commit(round_id)
        logger.info("dispatched %d round(s)", len(round_ids))
        return len(round_ids)
    finally:
        cache.delete(DISPATCH_LOCK)


@shared_task(name="forecasts.tasks.run_question_now", bind=True)
def run_question_now(self, question_id):
    """An editor's "run a forecast now": a manual round outside the cadence."""
    from questions.models import Question

    question = Question.objects.filter(pk=question_id).first()
    if question is None:
        return None
    rnd = services.create_manual_round(question)
    snapshot = services.run_round(rnd.pk, seconds=round_seconds(self))
    return snapshot.pk if snapshot else None
