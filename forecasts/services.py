"""Rounds: claiming a slot, asking the panel, recording answers, writing the snapshot."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .aggregation import summarize
from .models import ModelRun, Round, Snapshot

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
