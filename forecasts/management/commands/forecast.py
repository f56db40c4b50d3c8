import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from forecasts import services, tasks
from questions.models import Question

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run forecast rounds: the twin of the scheduled task. Without a broker the rounds run "
        "in this process; with one they are queued for the Celery workers."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--due", action="store_true", help="Questions whose cadence slot has no round yet."
        )
        which.add_argument("--question", metavar="SLUG", help="One question, now, whatever its cadence.")
        which.add_argument("--all", action="store_true", help="Every open question, now.")
        parser.add_argument("--limit", type=int, default=500, help="At most this many rounds per pass.")
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="With --due: keep running, checking every SECONDS (the schedule of a single machine).",
        )

    def handle(self, *args, **options):
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["loop"] is not None:
            if not options["due"]:
                raise CommandError("--loop goes with --due")
            if options["loop"] <= 0:
                raise CommandError("--loop must be a positive number of seconds")
            self.stdout.write(f"checking for due questions every {options['loop']:g} s")
            while True:
                close_old_connections()
                try:
                    self.run_due(options["limit"])
                except Exception:
                    # One bad pass must not stop the schedule of every question.
                    logger.exception("a scheduled pass failed; trying again in %g s", options["loop"])
                time.sleep(options["loop"])
        if options["due"]:
            self.run_due(options["limit"])
        elif options["question"]:
            question = Question.objects.filter(slug=options["question"]).first()
            if question is None:
                raise CommandError(f"no question with the slug {options['question']!r}")
            if question.status != Question.Status.OPEN:
                raise CommandError(f"{question.slug} is {question.status}: only open questions are forecast")
            self.run([services.create_manual_round(question).pk])
        else:
            questions = Question.objects.forecastable().order_by("pk")[: options["limit"]]
            self.run([services.create_manual_round(q).pk for q in questions])

    def run_due(self, limit):
        round_ids = services.create_due_rounds(limit=limit) + services.stranded_round_ids(limit=limit)
        self.run(round_ids)

    def run(self, round_ids):
        if not round_ids:
            self.stdout.write("no rounds to run")
            return
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            for round_id in round_ids:
                tasks.run_round.delay(round_id)
            self.stdout.write(f"queued {len(round_ids)} round(s) for the workers")
            return
        snapshots = services.run_rounds_locally(round_ids)
        written = sum(1 for s in snapshots if s is not None)
        self.stdout.write(f"ran {len(round_ids)} round(s): {written} snapshot(s) written")
