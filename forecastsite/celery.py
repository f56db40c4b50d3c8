import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forecastsite.settings")

# DjangoTask gives every task delay_on_commit(), so rows written in a
# transaction exist before a worker looks for them.
app = Celery("forecastsite", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
