"""Writes readers can see invalidate the cached pages and API responses that show them.

See questions.services for the generations. A round's result becomes visible
when its Snapshot is written (forecasts.services.close_round), so a Snapshot
bumps only its question's pages and the list pages; a model's successful
answer alone changes nothing a reader sees until then. A failed answer does
bump its question: a round where every model failed writes no Snapshot, yet
the question page shows it with its "API error" cards. Edits and deletes of
questions, categories and the panel invalidate everything.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from forecasts.models import ModelRun, PanelModel, Snapshot
from questions.models import Category, Question
from questions.services import bump_content_generation, bump_question_generation


@receiver(post_save, sender=Question)
@receiver(post_delete, sender=Question)
@receiver(post_save, sender=Category)
@receiver(post_delete, sender=Category)
@receiver(post_save, sender=PanelModel)
@receiver(post_delete, sender=PanelModel)
# No delete receivers on Snapshot and ModelRun: one would make Django load every
# row of a cascade into memory (a question with years of history has hundreds of
# thousands) instead of deleting them in one statement. Deleting the question
# bumps everything; rounds and their rows are never deleted on their own.
def content_changed(sender, **kwargs):
    bump_content_generation()


@receiver(post_save, sender=Snapshot)
def snapshot_saved(sender, instance, **kwargs):
    # close_round creates the Snapshot with the round's question already loaded.
    bump_question_generation(instance.question.slug)


@receiver(post_save, sender=ModelRun)
def model_run_saved(sender, instance, **kwargs):
    if instance.status != ModelRun.Status.OK:
        bump_question_generation(instance.question.slug)
