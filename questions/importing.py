"""Importing questions and model forecasts from JSON Lines files.

The format is documented for users in docs/data-format.md. Every import has
two phases: the whole file is read and validated first, and only a file with
no bad line reaches the database, inside one transaction. A bad line is
reported with its number and the reason, and nothing is written.

The management commands `import_questions` and `import_forecasts` are thin
wrappers around `import_questions` and `import_forecasts` here.
"""

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from forecasts.models import ModelRun, Round, Snapshot
from forecasts.services import close_round
from forecasts.text import MAX_RATIONALE_CHARS, clean_text

from .models import Category, Question

# One line of a real file is a few kilobytes; a line above this is a broken or
# hostile file, and reading it whole would cost memory for nothing.
MAX_LINE_BYTES = 1_000_000

SLUG_MAX_LENGTH = Question._meta.get_field("slug").max_length
TITLE_MAX_LENGTH = Question._meta.get_field("title").max_length
SOURCE_MAX_LENGTH = Question._meta.get_field("source").max_length
SOURCE_ID_MAX_LENGTH = Question._meta.get_field("source_id").max_length
URL_MAX_LENGTH = Question._meta.get_field("source_url").max_length
CATEGORY_MAX_LENGTH = Category._meta.get_field("name").max_length
MODEL_NAME_MAX_LENGTH = ModelRun._meta.get_field("model_name").max_length
LABEL_MAX_LENGTH = Round._meta.get_field("label").max_length

DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# What an identifier (source, source_id, slug, link, model name) may not hold:
# control characters, tab and line breaks included, lone surrogates and the XML
# noncharacters. Identifiers are matched on, so they are refused, never cleaned:
# cleaning could silently make two different ids one.
UNSTORABLE_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
LINE_BREAKS_RE = re.compile("[\t\n\r]+")

# Every date of a file lies in this range. Far wider than any real question or
# forecast, and far enough from the ends of what datetime can hold that the
# arithmetic done with stored dates later (a day's margin, a round's offset of
# seconds, a time zone) can never overflow.
EARLIEST_DATE = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=UTC)


class ImportFileError(Exception):
    """A line of an import file that cannot be imported; nothing has been written."""

    def __init__(self, line_number, reason):
        self.line_number = line_number
        self.reason = reason
        where = f"line {line_number}: " if line_number else ""
        super().__init__(f"{where}{reason}")


@dataclass
class ImportResult:
    kind: str
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    categories_created: int = 0
    rounds_created: int = 0
    snapshots_written: int = 0
    notes: list = field(default_factory=list)

    @property
    def total(self):
        return self.created + self.updated + self.unchanged

    def summary(self):
        text = (
            f"{self.total} {self.kind}: {self.created} created, "
            f"{self.updated} updated, {self.unchanged} unchanged"
        )
        extras = []
        if self.categories_created:
            extras.append(f"{self.categories_created} new categories")
        if self.rounds_created or self.snapshots_written:
            extras.append(f"{self.rounds_created} new rounds, {self.snapshots_written} snapshots written")
        if self.skipped:
            extras.append(f"{self.skipped} rows outside the panel skipped (--all imports them)")
        if extras:
            text += "; " + "; ".join(extras)
        return text


def _no_progress(iterable, **kwargs):
    return iterable


# --- Reading and validating -------------------------------------------------


def _reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows (non-finite values are refused)")


def _unique_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"field {key!r} appears twice")
        obj[key] = value
    return obj


def read_json_lines(path, progress=_no_progress):
    """Yield (line number, object) for every non-blank line; raise ImportFileError on the first bad one."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; bytes so bad UTF-8 gets a line number
    except OSError as exc:
        raise ImportFileError(0, f"cannot open {path}: {exc.strerror or exc}") from None
    with handle:
        line_number = 0
        # Room for the longest allowed line and its line ending (\r\n), which is not counted:
        # a longer line is refused after reading one byte more than that, never read whole.
        for raw in progress(
            iter(lambda: handle.readline(MAX_LINE_BYTES + 2), b""), desc="reading", unit=" lines"
        ):
            line_number += 1
            if len(raw.removesuffix(b"\n").removesuffix(b"\r")) > MAX_LINE_BYTES:
                raise ImportFileError(line_number, f"line is longer than {MAX_LINE_BYTES:,} bytes")
            if line_number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if b"\x00" in raw:
                raise ImportFileError(line_number, "binary data (a NUL byte), not a line of JSON text")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    line_number,
                    f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}): "
                    "binary data, or text saved in another encoding",
                ) from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise ImportFileError(line_number, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
            except ValueError as exc:
                raise ImportFileError(line_number, f"invalid JSON: {exc}") from None
            except RecursionError:
                raise ImportFileError(line_number, "invalid JSON: nested too deeply") from None
            if not isinstance(obj, dict):
                raise ImportFileError(line_number, f"expected a JSON object, found {_json_type(obj)}")
            yield line_number, obj


def _shown(value, limit=40):
    """repr of a value for an error message, shortened: a hostile file's value may be huge."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 10]}… ({len(text):,} characters)"


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


class _Row:
    """Typed access to one JSON object, raising ImportFileError with the line number."""

    def __init__(self, line_number, obj, required, optional):
        self.line_number = line_number
        self.obj = obj
        missing = [name for name in required if name not in obj]
        if missing:
            raise ImportFileError(line_number, f"missing required field {', '.join(map(repr, missing))}")
        unknown = sorted(set(obj) - set(required) - set(optional))
        if unknown:
            raise ImportFileError(
                line_number,
                f"unknown field {', '.join(map(repr, unknown))} (docs/data-format.md lists the fields)",
            )

    def fail(self, reason):
        raise ImportFileError(self.line_number, reason)

    def string(self, name, *, kind, max_length=None, nullable=False, allow_empty=True):
        """A string field, made fit to store according to its kind.

        "key": an identifier; surrounding whitespace is stripped and any control
        character or lone surrogate left is an error. "line": a one-line text (a
        title, a name); cleaned with clean_text, tabs and line breaks become spaces,
        stripped. "text": a multi-line text, cleaned with clean_text and cut to
        max_length. "as_is": unchanged (a field not stored, or one the caller checks whole).
        Lengths are checked on the value that will be stored.
        """
        value = self.obj.get(name)
        if value is None:
            if nullable or name not in self.obj:
                return None
            self.fail(f"{name!r} must be a string, not null")
        if not isinstance(value, str):
            self.fail(f"{name!r} must be a string, found {_json_type(value)}")
        if kind == "key":
            value = value.strip()
            if bad := UNSTORABLE_RE.search(value):
                what = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
                self.fail(
                    f"{name!r} contains {what} (U+{ord(bad.group()):04X} at character {bad.start() + 1}); "
                    "identifiers may not"
                )
        elif kind == "line":
            value = LINE_BREAKS_RE.sub(" ", clean_text(value)).strip()
        elif kind == "text":
            value = clean_text(value, max_length=max_length)
        elif kind != "as_is":
            raise ValueError(f"unknown kind of string: {kind!r}")
        if not allow_empty and not value.strip():
            self.fail(f"{name!r} must not be empty")
        if max_length and len(value) > max_length:
            self.fail(f"{name!r} is longer than {max_length} characters")
        return value

    def boolean(self, name):
        value = self.obj.get(name)
        if value is None and name not in self.obj:
            return None
        if not isinstance(value, bool):
            self.fail(f"{name!r} must be true or false, found {_json_type(value)}")
        return value

    def probability(self, name, *, nullable=False):
        value = self.obj.get(name)
        if value is None:
            if nullable:
                return None
            self.fail(f"{name!r} must be a number between 0 and 1, not null")
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{name!r} must be a number between 0 and 1, found {_json_type(value)}")
        # Compared before float() or math.isfinite(), which overflow on an integer of
        # hundreds of digits; NaN and infinities (if they ever got this far) fail it too.
        if not 0 <= value <= 1:
            self.fail(f"{name!r} must be between 0 and 1, found {_shown(value)}")
        return float(value)

    def when(self, name, *, nullable=False, not_after=None):
        """A `YYYY-MM-DD` date (midnight UTC) or an ISO 8601 date-time with its time zone.

        With not_after, a later time is refused as being in the future.
        """
        value = self.obj.get(name)
        if value is None:
            if nullable:
                return None
            self.fail(f"{name!r} must be a date (YYYY-MM-DD), not null")
        if not isinstance(value, str):
            self.fail(f"{name!r} must be a date string (YYYY-MM-DD), found {_json_type(value)}")
        if DATE_RE.fullmatch(value):
            try:
                parsed = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
            except ValueError:
                self.fail(f"{name!r} is not a valid date: {_shown(value)}")
        else:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.fail(f"{name!r} is not a valid date (YYYY-MM-DD): {_shown(value)}")
            if parsed.tzinfo is None:
                self.fail(f"{name!r} is a date-time without a time zone: {_shown(value)} (add Z or +00:00)")
            try:
                parsed = parsed.astimezone(UTC)
            except OverflowError:
                # 0001-01-01T00:00:00+01:00 is in year 0 in UTC, which datetime cannot hold.
                parsed = None
        if parsed is not None and not_after is not None and parsed > not_after:
            self.fail(
                f"{name!r} is in the future: {_shown(value)} "
                f"(the latest accepted is {not_after:%Y-%m-%d %H:%M} UTC)"
            )
        if parsed is None or not EARLIEST_DATE <= parsed < LATEST_DATE:
            self.fail(
                f"{name!r} is out of range: {_shown(value)} "
                f"(dates from {EARLIEST_DATE:%Y-%m-%d} to {LATEST_DATE - timedelta(days=1):%Y-%m-%d} are accepted)"
            )
        return parsed


# --- Questions ----------------------------------------------------------------

QUESTION_REQUIRED = ("source", "source_id", "question", "category", "created_date")
QUESTION_OPTIONAL = (
    "slug",
    "platform_ref",
    "url",
    "background",
    "resolution_criteria",
    "source_topics",
    "resolution_date",
    "outcome",
    "resolution_note",
    "crowd_prob_final",
    "crowd_prob_at_forecast",
    "dataset",
)


@dataclass
class QuestionRow:
    line_number: int
    source: str
    source_id: str
    title: str
    category: str
    slug: str | None
    url: str
    background: str
    resolution_criteria: str
    published_at: datetime
    resolves_at: datetime | None
    outcome: bool | None
    resolution_note: str | None


def parse_question(line_number, obj):
    row = _Row(line_number, obj, QUESTION_REQUIRED, QUESTION_OPTIONAL)
    source = row.string("source", kind="key", max_length=SOURCE_MAX_LENGTH, allow_empty=False)
    source_id = row.string("source_id", kind="key", max_length=SOURCE_ID_MAX_LENGTH, allow_empty=False)
    title = row.string("question", kind="line", max_length=TITLE_MAX_LENGTH, allow_empty=False)
    category = row.string("category", kind="line", max_length=CATEGORY_MAX_LENGTH, allow_empty=False)
    if not slugify(category, allow_unicode=True):
        row.fail(f"'category' needs at least one letter or digit: {_shown(category)}")
    # The pattern is the whole check (nothing stripped): "my-slug\n" is a broken file, not a slug.
    slug = row.string("slug", kind="as_is", max_length=SLUG_MAX_LENGTH, nullable=True)
    if slug is not None and not SLUG_RE.fullmatch(slug):
        row.fail(f"'slug' may hold only lowercase letters, digits and single hyphens: {_shown(slug)}")
    url = row.string("url", kind="key", max_length=URL_MAX_LENGTH, nullable=True) or ""
    if url and not url.startswith(("https://", "http://")):
        row.fail(f"'url' must start with https:// or http://: {url!r}")
    row.string("platform_ref", kind="as_is", nullable=True)
    row.string("dataset", kind="as_is", nullable=True)
    topics = obj.get("source_topics")
    if topics is not None and not (isinstance(topics, list) and all(isinstance(t, str) for t in topics)):
        row.fail("'source_topics' must be a list of strings")
    row.probability("crowd_prob_final", nullable=True)
    row.probability("crowd_prob_at_forecast", nullable=True)
    published_at = row.when("created_date")
    resolves_at = row.when("resolution_date", nullable=True)
    if resolves_at is not None and resolves_at < published_at:
        row.fail("'resolution_date' is before 'created_date'")
    outcome = obj.get("outcome")
    if isinstance(outcome, bool) or outcome not in (0, 1, None) or isinstance(outcome, float):
        row.fail(f"'outcome' must be 1 (YES), 0 (NO) or null (unresolved), found {_shown(outcome)}")
    return QuestionRow(
        line_number=line_number,
        source=source,
        source_id=source_id,
        title=title,
        category=category,
        slug=slug,
        url=url,
        background=row.string("background", kind="text", nullable=True) or "",
        resolution_criteria=row.string("resolution_criteria", kind="text", nullable=True) or "",
        published_at=published_at,
        resolves_at=resolves_at,
        outcome=None if outcome is None else bool(outcome),
        resolution_note=row.string("resolution_note", kind="text", nullable=True),
    )


def read_questions(path, progress=_no_progress):
    rows = []
    seen = {}
    for line_number, obj in read_json_lines(path, progress):
        row = parse_question(line_number, obj)
        key = (row.source, row.source_id)
        if key in seen:
            raise ImportFileError(
                line_number, f"question {row.source}:{row.source_id} already on line {seen[key]}"
            )
        seen[key] = line_number
        rows.append(row)
    return rows


def _slug_base(title):
    base = slugify(title)[:SLUG_MAX_LENGTH].strip("-")
    return base or "question"


def _unique_slug(base, taken):
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1


CATEGORY_SLUG_MAX_LENGTH = Category._meta.get_field("slug").max_length


def _drops_letters(unicode_slug):
    """Whether the ASCII slug loses letters or digits of the name ("日本", "Straße"), not just accents."""
    return any(ch.isalnum() and not ch.isascii() for ch in unicodedata.normalize("NFKD", unicode_slug))


def category_slug(name, digest_length=6):
    """The URL slug of a category name: ASCII, as the <slug:slug> URL pattern requires.

    A name whose letters ASCII cannot spell gets a short digest of its Unicode
    slug after what ASCII keeps of it ("category-cf2abf" for "日本",
    "ai-dd5e84" for "AI 日本"): stable across imports, and two names that
    differ only where ASCII is blind still get two categories.
    """
    ascii_slug = slugify(name)
    unicode_slug = slugify(name, allow_unicode=True)
    if not _drops_letters(unicode_slug):
        return ascii_slug[:CATEGORY_SLUG_MAX_LENGTH]
    digest = hashlib.sha256(unicode_slug.encode()).hexdigest()[:digest_length]
    base = ascii_slug[: CATEGORY_SLUG_MAX_LENGTH - len(digest) - 1].strip("-") or "category"
    return f"{base}-{digest}"


def _same_category(existing_name, name):
    unicode_slug = slugify(name, allow_unicode=True)
    # ASCII names that slug alike are one category; for the others the digest
    # decides, and a digest clash between different names must not merge them.
    return not _drops_letters(unicode_slug) or slugify(existing_name, allow_unicode=True) == unicode_slug


def _categories_for(names, result):
    """Category per name, creating missing ones (matched by name, then by slug)."""
    by_name = {c.name: c for c in Category.objects.filter(name__in=names)}
    missing = [n for n in names if n not in by_name]
    if missing:
        by_slug = {c.slug: c for c in Category.objects.filter(slug__in=[category_slug(n) for n in missing])}
        next_order = (Category.objects.aggregate(m=Max("order"))["m"] or 0) + 1
        for name in missing:
            slug = category_slug(name)
            if slug in by_slug and not _same_category(by_slug[slug].name, name):
                slug = category_slug(name, digest_length=16)
                if slug not in by_slug:
                    by_slug.update({c.slug: c for c in Category.objects.filter(slug=slug)})
            if slug in by_slug:
                # "AI and technology" vs "AI And Technology": one category, not a slug clash.
                by_name[name] = by_slug[slug]
                continue
            category = Category.objects.create(name=name, slug=slug, order=next_order)
            next_order += 1
            by_slug[slug] = by_name[name] = category
            result.categories_created += 1
    return by_name


QUESTION_IMPORTED_FIELDS = (
    "title",
    "category_id",
    "background",
    "resolution_criteria",
    "source_url",
    "published_at",
    "resolves_at",
    "status",
    "outcome",
    "resolved_at",
    "resolution_note",
)


def _apply_question(question, row, category):
    """Set the fields the file owns; the slug, cadence and editor notes stay as they are."""
    question.title = row.title
    question.category_id = category.pk
    question.background = row.background
    question.resolution_criteria = row.resolution_criteria
    question.source_url = row.url
    question.published_at = row.published_at
    question.resolves_at = row.resolves_at
    if row.outcome is not None:
        question.status = Question.Status.RESOLVED
        question.outcome = row.outcome
        question.resolved_at = row.resolves_at or row.published_at
    elif question.pk is None:
        question.status = Question.Status.OPEN
    # An outcome of null in the file never reopens a question an editor has
    # resolved, closed or annulled on the site: the file just does not know yet.
    if row.resolution_note is not None:
        question.resolution_note = row.resolution_note


def import_questions(path, progress=_no_progress):
    """Create or update the questions of a JSON Lines file; returns an ImportResult.

    Idempotent on (source, source_id): a second import of the same file
    changes nothing. Raises ImportFileError, with nothing written, on the
    first bad line.
    """
    rows = read_questions(path, progress)
    result = ImportResult(kind="questions", lines=len(rows))
    with transaction.atomic():
        existing = {}
        by_source = defaultdict(list)
        for row in rows:
            by_source[row.source].append(row.source_id)
        for source, ids in by_source.items():
            for question in Question.objects.filter(source=source, source_id__in=ids):
                existing[(question.source, question.source_id)] = question
        categories = _categories_for(sorted({row.category for row in rows}), result)

        # One query for every slug in use: cheaper than one per new title.
        taken_slugs = set(Question.objects.values_list("slug", flat=True))
        now = timezone.now()
        to_create, to_update = [], []
        for row in rows:
            question = existing.get((row.source, row.source_id))
            if question is None:
                if row.slug:
                    if row.slug in taken_slugs:
                        raise ImportFileError(
                            row.line_number, f"slug {row.slug!r} belongs to another question"
                        )
                    slug = row.slug
                else:
                    slug = _unique_slug(_slug_base(row.title), taken_slugs)
                taken_slugs.add(slug)
                question = Question(source=row.source, source_id=row.source_id, slug=slug)
                _apply_question(question, row, categories[row.category])
                to_create.append(question)
                continue
            before = {name: getattr(question, name) for name in QUESTION_IMPORTED_FIELDS}
            _apply_question(question, row, categories[row.category])
            if any(getattr(question, name) != value for name, value in before.items()):
                question.updated_at = now  # bulk_update skips auto_now
                to_update.append(question)
            else:
                result.unchanged += 1
        Question.objects.bulk_create(to_create, batch_size=500)
        Question.objects.bulk_update(to_update, [*QUESTION_IMPORTED_FIELDS, "updated_at"], batch_size=500)
        result.created = len(to_create)
        result.updated = len(to_update)
    return result


# --- Forecasts ----------------------------------------------------------------

FORECAST_REQUIRED = ("model", "source_id", "forecast_date", "probability")
FORECAST_OPTIONAL = ("source", "model_org", "rationale", "prompt_variant", "in_panel", "run")

DEFAULT_LABEL = "imported forecasts"

# A forecast is made between its question's creation and now. The day's margin on
# both sides is for files that write a bare date (midnight UTC) for a time in
# another zone; a date beyond it is a mistake that would, dated 9999, stay the
# question's headline for ever, or, dated 0001, sit before the question existed.
FORECAST_FUTURE_MARGIN = timedelta(days=1)
FORECAST_BEFORE_QUESTION_MARGIN = timedelta(days=1)


@dataclass
class ForecastRow:
    line_number: int
    source: str | None
    source_id: str
    model: str
    model_name: str
    answered_at: datetime
    probability: float
    rationale: str
    variant: str
    in_panel: bool


def parse_forecast(line_number, obj, now=None):
    row = _Row(line_number, obj, FORECAST_REQUIRED, FORECAST_OPTIONAL)
    now = now or timezone.now()
    model = row.string("model", kind="key", max_length=MODEL_NAME_MAX_LENGTH, allow_empty=False)
    variant = row.string("prompt_variant", kind="key", max_length=40, nullable=True) or ""
    in_panel = row.boolean("in_panel")
    row.string("model_org", kind="as_is", nullable=True)
    row.string("run", kind="as_is", nullable=True)
    source = row.string("source", kind="key", max_length=SOURCE_MAX_LENGTH, nullable=True)
    return ForecastRow(
        line_number=line_number,
        source=source or None,
        source_id=row.string("source_id", kind="key", max_length=SOURCE_ID_MAX_LENGTH, allow_empty=False),
        model=model,
        model_name=model,
        answered_at=row.when("forecast_date", not_after=now + FORECAST_FUTURE_MARGIN),
        probability=row.probability("probability"),
        # A runaway answer is kept, cut to a length a reader can still scroll.
        rationale=row.string("rationale", kind="text", max_length=MAX_RATIONALE_CHARS, nullable=True) or "",
        variant=variant,
        # A file without the field is one panel's forecasts.
        in_panel=True if in_panel is None else in_panel,
    )


def _group_for(row):
    """Which round of a question and date a row belongs to: the panel's, or its prompt variant's."""
    return "" if row.in_panel else (row.variant or "other")


def import_forecasts(path, include_all=False, label=DEFAULT_LABEL, progress=_no_progress, now=None):
    """Import model forecasts as imported Rounds, ModelRuns and Snapshots.

    Rows of one question and forecast date make one round (slot at the
    forecast time, midnight UTC for a bare date) with one ModelRun per model,
    and the round is closed into its Snapshot. By default only panel rows
    (`in_panel` true or absent) are imported. With include_all, rows outside
    the panel are imported too, one round per prompt variant, a few seconds
    *before* the panel's round, with no Snapshot: they count in the models'
    records but are never shown as the panel's forecast.
    Idempotent on (round, model name): a second import changes nothing.
    A forecast dated more than a day after now, or more than a day before
    its question was published, is a line error.
    """
    now = now or timezone.now()
    # The label comes from the command line, and is shown with every round like the file's texts.
    label = LINE_BREAKS_RE.sub(" ", clean_text(label)).strip() or DEFAULT_LABEL
    result = ImportResult(kind="forecasts")
    rows = []
    for line_number, obj in read_json_lines(path, progress):
        row = parse_forecast(line_number, obj, now=now)
        result.lines += 1
        if not row.in_panel and not include_all:
            result.skipped += 1
            continue
        if not row.in_panel:
            row.model_name = f"{row.model} ({row.variant})" if row.variant else row.model
            if len(row.model_name) > MODEL_NAME_MAX_LENGTH:
                raise ImportFileError(
                    line_number, f"model name with its variant is over {MODEL_NAME_MAX_LENGTH} characters"
                )
        rows.append(row)

    questions = _questions_for(rows)
    for row in rows:
        _check_after_question(row, questions[(row.source, row.source_id)])
    # Offsets are fixed per variant name within the file, sorted, so a
    # re-import of the same file finds the same rounds.
    variants = sorted({_group_for(row) for row in rows} - {""})
    offsets = {"": 0, **{variant: -(i + 1) for i, variant in enumerate(reversed(variants))}}

    groups = defaultdict(list)
    seen = {}
    for row in rows:
        question = questions[(row.source, row.source_id)]
        slot_at = row.answered_at + timedelta(seconds=offsets[_group_for(row)])
        key = (question.pk, slot_at, row.model_name)
        if key in seen:
            raise ImportFileError(
                row.line_number,
                f"{row.model_name} already has a forecast for this question and date on line {seen[key]}",
            )
        seen[key] = row.line_number
        groups[(question.pk, slot_at, _group_for(row))].append(row)

    with transaction.atomic():
        rounds, with_snapshot = _rounds_for(groups, questions, label, result)
        existing_runs = {
            (run.round_id, run.model_name): run
            for run in ModelRun.objects.filter(round__in=[r.pk for r in rounds.values()])
        }
        to_create, to_update, to_close = [], [], set()
        for key, group_rows in groups.items():
            rnd = rounds[key]
            for row in group_rows:
                run = existing_runs.get((rnd.pk, row.model_name))
                if run is None:
                    to_create.append(
                        ModelRun(
                            round=rnd,
                            question_id=rnd.question_id,
                            model_name=row.model_name,
                            status=ModelRun.Status.OK,
                            probability=row.probability,
                            rationale=row.rationale,
                            answered_at=row.answered_at,
                            is_imported=True,
                        )
                    )
                    to_close.add(key)
                elif (run.status, run.probability, run.rationale) != (
                    ModelRun.Status.OK,
                    row.probability,
                    row.rationale,
                ):
                    run.status, run.probability, run.rationale = (
                        ModelRun.Status.OK,
                        row.probability,
                        row.rationale,
                    )
                    run.error_message = ""
                    to_update.append(run)
                    to_close.add(key)
                else:
                    result.unchanged += 1
        ModelRun.objects.bulk_create(to_create, batch_size=500)
        ModelRun.objects.bulk_update(
            to_update, ["status", "probability", "rationale", "error_message"], batch_size=500
        )
        result.created, result.updated = len(to_create), len(to_update)

        # Runs outside the panel are kept for the models' records, but never
        # become a point on the question's trajectory or its headline.
        outside = [rnd.pk for key, rnd in rounds.items() if key[2]]
        Snapshot.objects.filter(round__in=outside).delete()
        Round.objects.filter(pk__in=outside).update(status=Round.Status.DONE, finished_at=now)
        # A changed round gets its aggregate again; close_round never rewrites one.
        closing = [
            rnd
            for key, rnd in rounds.items()
            if not key[2] and (key in to_close or rnd.pk not in with_snapshot)
        ]
        Snapshot.objects.filter(round__in=[rnd.pk for rnd in closing]).delete()
        for rnd in progress(closing, desc="snapshots", unit=" rounds"):
            if close_round(rnd, is_imported=True):
                result.snapshots_written += 1
    return result


def _check_after_question(row, question):
    # A question made on the site may have no publication time yet: only the
    # file-wide date range applies then.
    if question.published_at is None:
        return
    if row.answered_at < question.published_at - FORECAST_BEFORE_QUESTION_MARGIN:
        raise ImportFileError(
            row.line_number,
            f"'forecast_date' {row.answered_at:%Y-%m-%d %H:%M} UTC is before its question was published "
            f"({question.published_at:%Y-%m-%d %H:%M} UTC); a forecast may be dated at most a day before",
        )


def _questions_for(rows):
    """The question of every row, looked up in one query; an unknown id fails with its line."""
    ids = {row.source_id for row in rows}
    found = defaultdict(list)
    for question in Question.objects.filter(source_id__in=ids).only(
        "pk", "source", "source_id", "title", "published_at"
    ):
        found[question.source_id].append(question)
    questions = {}
    for row in rows:
        candidates = [q for q in found.get(row.source_id, []) if row.source in (None, q.source)]
        if not candidates:
            where = f"{row.source}:{row.source_id}" if row.source else row.source_id
            raise ImportFileError(
                row.line_number,
                f"no question with source_id {where!r}: import its question first (import_questions)",
            )
        if len(candidates) > 1:
            raise ImportFileError(
                row.line_number,
                f"source_id {row.source_id!r} matches questions from several sources; add a 'source' field",
            )
        questions[(row.source, row.source_id)] = candidates[0]
    return questions


def _rounds_for(groups, questions, label, result):
    """The imported Round of every (question, slot, group) key, created where missing."""
    question_ids = {key[0] for key in groups}
    slots = {key[1] for key in groups}
    existing = {
        (rnd.question_id, rnd.slot_at): rnd
        for rnd in Round.objects.filter(question_id__in=question_ids, slot_at__in=slots).select_related(
            "question"
        )
    }
    with_snapshot = set(
        Snapshot.objects.filter(round__in=[r.pk for r in existing.values()]).values_list(
            "round_id", flat=True
        )
    )
    by_pk = {q.pk: q for q in questions.values()}
    rounds, to_create = {}, []
    for key, group_rows in groups.items():
        question_id, slot_at, group = key
        rnd = existing.get((question_id, slot_at))
        if rnd is not None:
            if rnd.kind != Round.Kind.IMPORTED:
                raise ImportFileError(
                    group_rows[0].line_number,
                    f"{by_pk[question_id].title!r} already has a {rnd.get_kind_display().lower()} round at "
                    f"{slot_at:%Y-%m-%d %H:%M:%S} UTC; imported forecasts never replace the site's own",
                )
        else:
            round_label = label if not group else f"{label}, {group} prompt (outside the panel)"
            rnd = Round(
                question=by_pk[question_id],
                slot_at=slot_at,
                kind=Round.Kind.IMPORTED,
                status=Round.Status.PENDING,
                label=round_label[:LABEL_MAX_LENGTH],
            )
            to_create.append(rnd)
        rounds[key] = rnd
    Round.objects.bulk_create(to_create, batch_size=500)
    result.rounds_created = len(to_create)
    return rounds, with_snapshot


# --- Sample content -----------------------------------------------------------

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample"
SAMPLE_SOURCE = "sample"
SAMPLE_LABEL = "sample history"
SAMPLE_ROUNDS = 6
SAMPLE_DAYS = 30


@dataclass
class SampleResult:
    loaded: bool
    questions: ImportResult | None = None
    rounds: int = 0
    existing_questions: int = 0


def load_replay(path=None):
    """The recorded answers in sample/replay.json (also read by the local replay server)."""
    with open(path or SAMPLE_DIR / "replay.json", encoding="utf-8") as handle:
        return json.load(handle)


def load_sample_content(force=False, now=None, sample_dir=SAMPLE_DIR, progress=_no_progress):
    """Load the site's own sample questions and a short backdated history for each.

    Does nothing on a database that already has questions, unless force is
    set. The history rounds are made from the recorded answers in
    replay.json, labelled "sample history" and marked imported: they are
    sample answers, never presented as live forecasts.
    """
    existing = Question.objects.count()
    if existing and not force:
        return SampleResult(loaded=False, existing_questions=existing)
    replay = load_replay(sample_dir / "replay.json")
    with transaction.atomic():
        result = SampleResult(loaded=True, existing_questions=existing)
        result.questions = import_questions(sample_dir / "questions.jsonl", progress=progress)
        seats = _sample_seats()
        now = now or timezone.now()
        today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
        questions = Question.objects.filter(source=SAMPLE_SOURCE).exclude(rounds__isnull=False)
        for question in progress(list(questions), desc="sample history", unit=" questions"):
            recordings = replay["questions"].get(question.title, {})
            result.rounds += _write_sample_history(question, recordings, replay["default"], seats, today)
    return result


def _sample_seats():
    """(display name, panel model or None, model id) for each seat of the active panel."""
    from forecasts.models import PanelModel

    seats = [(seat.name, seat, seat.model) for seat in PanelModel.objects.active()]
    return seats or [(model_id, None, model_id) for model_id in _DEFAULT_PANEL_IDS]


_DEFAULT_PANEL_IDS = (
    "openai/gpt-4o",
    "anthropic/claude-3.5-sonnet",
    "meta-llama/llama-3.1-405b-instruct",
    "deepseek/deepseek-r1",
)


def _write_sample_history(question, recordings, default, seats, today):
    if question.status == Question.Status.RESOLVED and question.resolves_at:
        # Before the outcome was known: the track record needs forecasts made in time.
        end = datetime.combine(question.resolves_at.astimezone(UTC).date(), time.min, tzinfo=UTC)
    else:
        end = today
    # Evenly spread from SAMPLE_DAYS days before the end to the day before it.
    days_ago = [
        round(SAMPLE_DAYS - i * (SAMPLE_DAYS - 1) / (SAMPLE_ROUNDS - 1)) for i in range(SAMPLE_ROUNDS)
    ]
    slots = [end - timedelta(days=days) for days in days_ago]
    slots = [slot for slot in slots if question.published_at is None or slot >= question.published_at]
    written = 0
    for index, slot_at in enumerate(slots):
        rnd = Round.objects.create(
            question=question, slot_at=slot_at, kind=Round.Kind.IMPORTED, label=SAMPLE_LABEL
        )
        for name, seat, model_id in seats:
            answers = recordings.get(model_id) or default
            # Walk through the recordings in order, so the sample line drifts
            # the way a real trajectory does instead of zigzagging.
            answer = answers[min(index * len(answers) // len(slots), len(answers) - 1)]
            run = ModelRun(
                round=rnd,
                question=question,
                panel_model=seat,
                model_name=name,
                answered_at=slot_at,
                is_imported=True,
                raw_output="Sample recording from sample/replay.json, not a live answer.",
            )
            if "error" in answer:
                run.status = ModelRun.Status.PROVIDER_ERROR
                run.error_message = f"Sample recording: HTTP {answer['error']}"
            else:
                run.status = ModelRun.Status.OK
                run.probability = float(answer["probability"])
                run.rationale = answer.get("rationale", "")
            run.save()
        close_round(rnd, is_imported=True)
        written += 1
    return written
