from django.core.management.base import BaseCommand

from questions.importing import SAMPLE_LABEL, load_sample_content
from questions.management.commands.import_questions import progress_for


class Command(BaseCommand):
    help = (
        "Load the site's sample questions (sample/questions.jsonl) and a short history of sample "
        "rounds from sample/replay.json, when the database has no questions yet."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load even when the database already has questions."
        )
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args, force=False, quiet=False, **options):
        result = load_sample_content(force=force, progress=progress_for(self, quiet))
        if not result.loaded:
            self.stdout.write(
                f"The database already has {result.existing_questions} questions: sample content not "
                "loaded (--force loads it anyway)."
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Sample content: {result.questions.summary()}"))
        if result.rounds:
            self.stdout.write(
                f'Wrote {result.rounds} sample rounds labelled "{SAMPLE_LABEL}". These are recorded '
                "sample answers, not live forecasts: they give the charts a line on a fresh site."
            )
