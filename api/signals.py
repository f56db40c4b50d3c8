"""Any write to what the API serves invalidates its cache (see questions.services.content_generation)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from forecasts.models import ModelRun, Snapshot
from questions.models import Category, Question
from questions.services import bump_content_generation


@receiver(post_save, sender=Question)
@receiver(post_delete, sender=Question)
@receiver(post_save, sender=Category)
@receiver(post_delete, sender=Category)
@receiver(post_save, sender=Snapshot)
@receiver(post_delete, sender=Snapshot)
@receiver(post_save, sender=ModelRun)
@receiver(post_delete, sender=ModelRun)
def content_changed(sender, **kwargs):
    bump_content_generation()
