import sys

from django.core.management.base import BaseCommand, CommandError

from questions.importing import ImportFileError, import_questions


def progress_for(command, quiet):
    """tqdm on an interactive terminal; nothing in logs, pipes or tests."""
    if quiet or not sys.stderr.isatty():
        return lambda iterable, **kwargs: iterable
    from tqdm import tqdm

    return lambda iterable, **kwargs: tqdm(iterable, file=sys.stderr, leave=False, **kwargs)


class Command(BaseCommand):
    help = (
        "Import questions from a JSON Lines file (format: docs/data-format.md). "
        "Idempotent on (source, source_id); a bad line aborts the import with nothing written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to a .jsonl file of questions.")
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args, file, quiet=False, **options):
        try:
            result = import_questions(file, progress=progress_for(self, quiet))
        except ImportFileError as exc:
            raise CommandError(f"{file}, {exc}\nNothing was imported.") from None
        self.stdout.write(self.style.SUCCESS(result.summary()))
