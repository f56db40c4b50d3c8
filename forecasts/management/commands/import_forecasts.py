from django.core.management.base import BaseCommand, CommandError

from questions.importing import DEFAULT_LABEL, ImportFileError, import_forecasts
from questions.management.commands.import_questions import progress_for


class Command(BaseCommand):
    help = (
        "Import model forecasts from a JSON Lines file (format: docs/data-format.md) as imported "
        "rounds, model runs and snapshots. Import the questions first."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to a .jsonl file of forecasts.")
        parser.add_argument(
            "--all",
            action="store_true",
            dest="include_all",
            help="Also import rows with in_panel false, one round per prompt variant, "
            "a few seconds before the panel's round.",
        )
        parser.add_argument(
            "--label",
            default=DEFAULT_LABEL,
            help=f"Label of the rounds created, shown with them (default: {DEFAULT_LABEL!r}).",
        )
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args, file, include_all=False, label=DEFAULT_LABEL, quiet=False, **options):
        try:
            result = import_forecasts(
                file, include_all=include_all, label=label, progress=progress_for(self, quiet)
            )
        except ImportFileError as exc:
            raise CommandError(f"{file}, {exc}\nNothing was imported.") from None
        self.stdout.write(self.style.SUCCESS(result.summary()))
