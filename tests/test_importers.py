import json
import re
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from forecasts.models import ModelRun, Round, Snapshot
from questions.importing import MAX_LINE_BYTES
from questions.models import Category, Question
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db


def question_row(n, **changes):
    row = {
        "source": "testsource",
        "source_id": f"q-{n}",
        "question": f"Will test event {n} happen before 2025?",
        "category": "Test Things",
        "background": "Background text.",
        "resolution_criteria": "Resolves YES if it happens.",
        "created_date": "2024-01-10",
        "resolution_date": "2024-06-30",
        "outcome": None,
    }
    row.update(changes)
    return row


def forecast_row(n, model="model-a", probability=0.4, **changes):
    row = {
        "model": model,
        "source_id": f"q-{n}",
        "forecast_date": "2024-10-01",
        "probability": probability,
        "rationale": f"{model} thinks so.",
        "prompt_variant": "cot",
        "in_panel": True,
    }
    row.update(changes)
    return row


def write_lines(path, rows):
    with open(path, "wb") as handle:
        for row in rows:
            handle.write(row if isinstance(row, bytes) else json.dumps(row).encode() + b"\n")
    return path


def run(command, *args):
    out = StringIO()
    call_command(command, *map(str, args), "--quiet", stdout=out)
    return out.getvalue()


def counts():
    return (
        Question.objects.count(),
        Category.objects.count(),
        Round.objects.count(),
        ModelRun.objects.count(),
        Snapshot.objects.count(),
    )


# --- With the real data in ../shared/data -------------------------------------


@pytest.mark.shared_data
def test_real_files_import_all_questions_and_the_panels_forecasts(shared_data_dir):
    out = run("import_questions", shared_data_dir / "questions.jsonl")
    assert "241 questions: 241 created, 0 updated, 0 unchanged" in out
    assert Question.objects.count() == 241
    assert Question.objects.filter(status="resolved", outcome=True).count() == 84
    assert Question.objects.filter(status="resolved", outcome=False).count() == 157
    assert Category.objects.count() == 8

    out = run("import_forecasts", shared_data_dir / "model_forecasts.jsonl")
    assert "964 forecasts: 964 created" in out
    assert ModelRun.objects.filter(is_imported=True, status="ok").count() == 964
    assert Snapshot.objects.count() == 241
    assert set(Snapshot.objects.values_list("models_ok", flat=True)) == {4}
    assert Snapshot.objects.filter(is_imported=True).count() == 241
    assert set(Round.objects.values_list("kind", flat=True)) == {"imported"}

    # The snapshot is the plain average of the four panel probabilities in the file.
    panel = defaultdict(list)
    for line in (shared_data_dir / "model_forecasts.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["in_panel"]:
            panel[row["source_id"]].append(row["probability"])
    for snapshot in Snapshot.objects.select_related("question")[:20]:
        assert snapshot.mean == pytest.approx(statistics.fmean(panel[snapshot.question.source_id]))
        assert snapshot.taken_at == datetime(2024, 10, 1, tzinfo=UTC)


@pytest.mark.shared_data
def test_reimporting_the_real_files_changes_nothing(shared_data_dir):
    run("import_questions", shared_data_dir / "questions.jsonl")
    run("import_forecasts", shared_data_dir / "model_forecasts.jsonl")
    before = counts()
    snapshot_ids = set(Snapshot.objects.values_list("id", flat=True))

    assert "0 created, 0 updated, 241 unchanged" in run(
        "import_questions", shared_data_dir / "questions.jsonl"
    )
    out = run("import_forecasts", shared_data_dir / "model_forecasts.jsonl")
    assert "0 created, 0 updated, 964 unchanged" in out
    assert counts() == before
    assert set(Snapshot.objects.values_list("id", flat=True)) == snapshot_ids


@pytest.mark.shared_data
def test_all_rows_go_into_one_round_per_prompt_variant_before_the_panels(shared_data_dir):
    run("import_questions", shared_data_dir / "questions.jsonl")
    run("import_forecasts", shared_data_dir / "model_forecasts.jsonl", "--all")
    assert ModelRun.objects.count() == 3615
    # Only the panel's rounds become points on the trajectory.
    assert Snapshot.objects.count() == 241
    assert Round.objects.count() == 241 * 3
    question = Question.objects.get(source_id=ModelRun.objects.first().question.source_id)
    latest = Snapshot.objects.filter(question=question).latest()
    assert latest.models_ok == 4
    assert latest.round.label == "imported forecasts"
    assert latest.taken_at == datetime(2024, 10, 1, tzinfo=UTC)
    names = set(ModelRun.objects.filter(question=question).values_list("model_name", flat=True))
    assert "gpt-4o-mini-2024-07-18 (basic)" in names
    assert "gpt-4o-mini-2024-07-18 (cot)" in names
    assert "claude-3.5-sonnet" in names


# --- Questions ----------------------------------------------------------------


def test_questions_are_created_with_categories_dates_and_outcomes(tmp_path):
    path = write_lines(
        tmp_path / "q.jsonl",
        [question_row(1), question_row(2, outcome=1), question_row(3, outcome=0, category="Other Things")],
    )
    out = run("import_questions", path)
    assert "3 questions: 3 created, 0 updated, 0 unchanged; 2 new categories" in out

    open_q = Question.objects.get(source_id="q-1")
    assert open_q.status == "open" and open_q.outcome is None
    assert open_q.slug == "will-test-event-1-happen-before-2025"
    assert open_q.category.slug == "test-things"
    assert open_q.published_at == datetime(2024, 1, 10, tzinfo=UTC)
    assert open_q.resolves_at == datetime(2024, 6, 30, tzinfo=UTC)
    yes = Question.objects.get(source_id="q-2")
    assert (yes.status, yes.outcome, yes.resolved_at) == ("resolved", True, datetime(2024, 6, 30, tzinfo=UTC))
    assert Question.objects.get(source_id="q-3").outcome is False


def test_reimport_updates_in_place_and_keeps_the_slug(tmp_path):
    run("import_questions", write_lines(tmp_path / "a.jsonl", [question_row(1), question_row(2)]))
    slug = Question.objects.get(source_id="q-1").slug

    changed = [question_row(1, question="A reworded title?", outcome=1), question_row(2)]
    out = run("import_questions", write_lines(tmp_path / "b.jsonl", changed))
    assert "2 questions: 0 created, 1 updated, 1 unchanged" in out
    question = Question.objects.get(source_id="q-1")
    assert question.title == "A reworded title?"
    assert question.slug == slug
    assert question.status == "resolved" and question.outcome is True
    assert Question.objects.count() == 2


def test_same_titles_get_distinct_slugs_that_stay_stable(tmp_path):
    QuestionFactory(slug="will-test-event-1-happen-before-2025")
    rows = [question_row(1), question_row(2, question="Will test event 1 happen before 2025?")]
    path = write_lines(tmp_path / "q.jsonl", rows)
    run("import_questions", path)
    slugs = dict(Question.objects.filter(source="testsource").values_list("source_id", "slug"))
    assert slugs == {
        "q-1": "will-test-event-1-happen-before-2025-2",
        "q-2": "will-test-event-1-happen-before-2025-3",
    }
    run("import_questions", path)
    assert dict(Question.objects.filter(source="testsource").values_list("source_id", "slug")) == slugs


def test_long_titles_give_slugs_within_the_column_limit(tmp_path):
    title = "Will " + "very " * 55 + "long things happen?"
    run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, question=title)]))
    run("import_questions", write_lines(tmp_path / "r.jsonl", [question_row(2, question=title)]))
    slugs = list(Question.objects.values_list("slug", flat=True))
    assert all(len(slug) <= 200 for slug in slugs)
    assert len(set(slugs)) == 2


def test_a_given_slug_is_used_and_a_clash_is_an_error(tmp_path):
    run("import_questions", write_lines(tmp_path / "a.jsonl", [question_row(1, slug="my-own-slug")]))
    assert Question.objects.get(source_id="q-1").slug == "my-own-slug"
    with pytest.raises(CommandError, match="line 1: slug 'my-own-slug' belongs to another question"):
        run("import_questions", write_lines(tmp_path / "b.jsonl", [question_row(2, slug="my-own-slug")]))


def test_a_null_outcome_never_reopens_a_question_resolved_on_the_site(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", [question_row(1)])
    run("import_questions", path)
    Question.objects.filter(source_id="q-1").update(status="annulled")
    run("import_questions", path)
    assert Question.objects.get(source_id="q-1").status == "annulled"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b'{"source": "testsource", "source_id": \n', "line 3: invalid JSON"),
        (json.dumps(question_row(9, colour="red")).encode() + b"\n", "line 3: unknown field 'colour'"),
        (
            json.dumps(question_row(9, question=42)).encode() + b"\n",
            "line 3: 'question' must be a string, found a number",
        ),
        (
            json.dumps(question_row(9, created_date="2024-02-30")).encode() + b"\n",
            "line 3: 'created_date' is not a valid date",
        ),
        (
            json.dumps(question_row(9, created_date="10/01/2024")).encode() + b"\n",
            "line 3: 'created_date' is not a valid date",
        ),
        (
            json.dumps(question_row(9, outcome=2)).encode() + b"\n",
            "line 3: 'outcome' must be 1 (YES), 0 (NO) or null",
        ),
        (
            json.dumps(question_row(9, outcome=True)).encode() + b"\n",
            "line 3: 'outcome' must be 1 (YES), 0 (NO) or null",
        ),
        (
            json.dumps({k: v for k, v in question_row(9).items() if k != "category"}).encode() + b"\n",
            "line 3: missing required field 'category'",
        ),
        (json.dumps(question_row(1)).encode() + b"\n", "line 3: question testsource:q-1 already on line 1"),
        (b'["not", "an", "object"]\n', "line 3: expected a JSON object, found a list"),
        (b'{"source": "a", "source": "b"}\n', "line 3: invalid JSON: field 'source' appears twice"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n", "line 3: not valid UTF-8 text (byte 0x89 at column 1)"),
        (b"\x00\x01\x02\x03 junk\n", "line 3: binary data"),
        (b'{"source": "caf\xe9"}\n', "line 3: not valid UTF-8 text (byte 0xe9 at column 16)"),
        (
            b'{"note": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n',
            "line 3: line is longer than 1,000,000 bytes",
        ),
    ],
    ids=[
        "invalid-json",
        "unknown-field",
        "wrong-type",
        "impossible-date",
        "date-format",
        "outcome-2",
        "outcome-bool",
        "missing-field",
        "duplicate",
        "not-object",
        "duplicate-key",
        "binary-png",
        "binary-nul",
        "bad-utf8",
        "huge",
    ],
)
def test_a_bad_question_line_is_reported_by_number_and_nothing_is_imported(tmp_path, bad_line, message):
    path = write_lines(tmp_path / "q.jsonl", [question_row(1), question_row(2), bad_line, question_row(4)])
    with pytest.raises(CommandError) as info:
        run("import_questions", path)
    assert message in str(info.value)
    assert "Nothing was imported" in str(info.value)
    assert counts() == (0, 0, 0, 0, 0)


def test_a_database_error_midway_rolls_the_whole_import_back(tmp_path, monkeypatch):
    from django.db.models import QuerySet

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(QuerySet, "bulk_create", fail)
    with pytest.raises(RuntimeError):
        run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, category="Brand New")]))
    monkeypatch.undo()
    assert Category.objects.filter(name="Brand New").count() == 0


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot open"):
        run("import_questions", tmp_path / "nope.jsonl")


# --- Forecasts ----------------------------------------------------------------


@pytest.fixture
def two_questions(tmp_path):
    run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, outcome=1), question_row(2)]))


@pytest.mark.usefixtures("two_questions")
def test_forecasts_become_one_imported_round_per_question_and_date(tmp_path):
    rows = [
        forecast_row(1, "model-a", 0.2),
        forecast_row(1, "model-b", 0.6, rationale=None),
        forecast_row(2, "model-a", 0.5),
        forecast_row(2, "model-a", 0.7, forecast_date="2024-10-08"),
        forecast_row(2, "outsider", 0.9, in_panel=False),
    ]
    out = run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows))
    assert "4 forecasts: 4 created, 0 updated, 0 unchanged; 3 new rounds, 3 snapshots written" in out
    assert "1 rows outside the panel skipped" in out

    q1 = Question.objects.get(source_id="q-1")
    rnd = Round.objects.get(question=q1)
    assert rnd.kind == "imported" and rnd.status == "done"
    assert rnd.slot_at == datetime(2024, 10, 1, tzinfo=UTC)
    assert rnd.label == "imported forecasts"
    snapshot = rnd.snapshot
    assert snapshot.mean == pytest.approx(0.4)
    assert snapshot.spread == pytest.approx(0.4)
    assert (snapshot.models_ok, snapshot.is_imported) == (2, True)
    run_b = ModelRun.objects.get(round=rnd, model_name="model-b")
    assert run_b.rationale == "" and run_b.is_imported and run_b.panel_model is None
    assert run_b.answered_at == datetime(2024, 10, 1, tzinfo=UTC)
    # Two dates make two points on the trajectory.
    q2 = Question.objects.get(source_id="q-2")
    assert list(Snapshot.objects.for_question(q2).values_list("mean", flat=True)) == [0.5, 0.7]


@pytest.mark.usefixtures("two_questions")
def test_a_changed_probability_updates_the_run_and_its_snapshot(tmp_path):
    rows = [forecast_row(1, "model-a", 0.2), forecast_row(1, "model-b", 0.6)]
    run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows))
    rows[1]["probability"] = 0.8
    out = run("import_forecasts", write_lines(tmp_path / "g.jsonl", rows))
    assert "2 forecasts: 0 created, 1 updated, 1 unchanged" in out
    assert Snapshot.objects.get().mean == pytest.approx(0.5)
    assert Round.objects.count() == 1


@pytest.mark.usefixtures("two_questions")
def test_all_puts_each_prompt_variant_in_its_own_round_off_the_trajectory(tmp_path):
    rows = [
        forecast_row(1, "model-a", 0.2),
        forecast_row(1, "model-a", 0.9, in_panel=False, prompt_variant="basic"),
        forecast_row(1, "model-c", 0.7, in_panel=False, prompt_variant="basic"),
    ]
    run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows), "--all")
    q1 = Question.objects.get(source_id="q-1")
    # Only the panel's round is a point on the trajectory.
    assert [s.mean for s in Snapshot.objects.for_question(q1)] == [0.2]
    outside = Round.objects.get(question=q1, label="imported forecasts, basic prompt (outside the panel)")
    assert outside.status == Round.Status.DONE
    assert set(outside.model_runs.values_list("model_name", flat=True)) == {
        "model-a (basic)",
        "model-c (basic)",
    }


@pytest.mark.usefixtures("two_questions")
def test_forecasts_for_an_unknown_question_are_an_error_with_the_line(tmp_path):
    rows = [forecast_row(1), forecast_row(77)]
    with pytest.raises(CommandError, match="line 2: no question with source_id 'q-77'"):
        run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows))
    assert Round.objects.count() == 0


@pytest.mark.usefixtures("two_questions")
def test_imported_forecasts_never_replace_a_scheduled_round(tmp_path):
    question = Question.objects.get(source_id="q-1")
    Round.objects.create(question=question, slot_at=datetime(2024, 10, 1, tzinfo=UTC))
    with pytest.raises(CommandError, match="line 1: .* already has a scheduled round"):
        run("import_forecasts", write_lines(tmp_path / "f.jsonl", [forecast_row(1)]))


@pytest.mark.usefixtures("two_questions")
@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (
            json.dumps(forecast_row(2, probability=1.4)).encode() + b"\n",
            "line 3: 'probability' must be between 0 and 1",
        ),
        (
            json.dumps(forecast_row(2, probability=-0.01)).encode() + b"\n",
            "line 3: 'probability' must be between 0 and 1",
        ),
        (json.dumps(forecast_row(2)).replace("0.4", "NaN").encode() + b"\n", "line 3: invalid JSON: NaN"),
        (
            json.dumps(forecast_row(2)).replace("0.4", "Infinity").encode() + b"\n",
            "line 3: invalid JSON: Infinity",
        ),
        (
            json.dumps(forecast_row(2, probability="0.4")).encode() + b"\n",
            "line 3: 'probability' must be a number",
        ),
        (
            json.dumps(forecast_row(2, probability=True)).encode() + b"\n",
            "line 3: 'probability' must be a number",
        ),
        (
            json.dumps(forecast_row(2, in_panel="yes")).encode() + b"\n",
            "line 3: 'in_panel' must be true or false",
        ),
        (
            json.dumps(forecast_row(2, forecast_date="2024-10-01T09:00:00")).encode() + b"\n",
            "without a time zone",
        ),
        (
            json.dumps(forecast_row(2, temperature=0.2)).encode() + b"\n",
            "line 3: unknown field 'temperature'",
        ),
        (
            json.dumps(forecast_row(1)).encode() + b"\n",
            "line 3: model-a already has a forecast for this question",
        ),
        (b"{not json}\n", "line 3: invalid JSON"),
    ],
    ids=[
        "above-1",
        "below-0",
        "nan",
        "infinity",
        "string",
        "bool",
        "in-panel",
        "naive",
        "unknown",
        "dup",
        "json",
    ],
)
def test_a_bad_forecast_line_is_reported_by_number_and_nothing_is_imported(tmp_path, bad_line, message):
    path = write_lines(
        tmp_path / "f.jsonl", [forecast_row(1), forecast_row(2, "model-b"), bad_line, forecast_row(2)]
    )
    with pytest.raises(CommandError) as info:
        run("import_forecasts", path)
    assert message in str(info.value)
    assert (Round.objects.count(), ModelRun.objects.count(), Snapshot.objects.count()) == (0, 0, 0)


@pytest.mark.usefixtures("two_questions")
def test_timestamps_with_a_zone_make_rounds_within_a_day(tmp_path):
    rows = [
        forecast_row(2, probability=0.3, forecast_date="2024-10-01T06:00:00Z"),
        forecast_row(2, probability=0.4, forecast_date="2024-10-01T14:00:00+02:00"),
    ]
    run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows))
    question = Question.objects.get(source_id="q-2")
    assert list(Snapshot.objects.for_question(question).values_list("taken_at", flat=True)) == [
        datetime(2024, 10, 1, 6, tzinfo=UTC),
        datetime(2024, 10, 1, 12, tzinfo=UTC),
    ]


# --- Line length ----------------------------------------------------------------


def padded_question_line(n, length, ending=b"\n"):
    """A valid question line of exactly `length` bytes before its line ending."""
    line = json.dumps(question_row(n, background="")).encode()
    padding = length - len(line)
    return line.replace(b'"background": ""', b'"background": "' + b"x" * padding + b'"') + ending


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""], ids=["lf", "crlf", "last-line"])
def test_a_line_of_exactly_the_limit_is_accepted_whatever_its_ending(tmp_path, ending):
    line = padded_question_line(2, MAX_LINE_BYTES, ending)
    assert len(line) == MAX_LINE_BYTES + len(ending)
    path = write_lines(tmp_path / "q.jsonl", [question_row(1), line])
    run("import_questions", path)
    assert len(Question.objects.get(source_id="q-2").background) == MAX_LINE_BYTES - len(
        json.dumps(question_row(2, background=""))
    )


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""], ids=["lf", "crlf", "last-line"])
def test_a_line_one_byte_over_the_limit_is_refused(tmp_path, ending):
    path = write_lines(
        tmp_path / "q.jsonl", [question_row(1), padded_question_line(2, MAX_LINE_BYTES + 1, ending)]
    )
    with pytest.raises(CommandError, match="line 2: line is longer than 1,000,000 bytes"):
        run("import_questions", path)
    assert counts() == (0, 0, 0, 0, 0)


def test_line_numbers_stay_right_after_a_long_crlf_line(tmp_path):
    rows = [padded_question_line(1, MAX_LINE_BYTES, b"\r\n"), b"{broken\r\n"]
    with pytest.raises(CommandError, match="line 2: invalid JSON"):
        run("import_questions", write_lines(tmp_path / "q.jsonl", rows))


# --- Numbers and dates beyond what float and datetime hold ------------------------

HUGE_INT = "9" * 401


def raw_line(row, field, literal):
    """A JSON line whose `field` is the literal JSON text given (json.dumps cannot write a 401-digit int)."""
    return json.dumps({**row, field: "PLACEHOLDER"}).replace('"PLACEHOLDER"', literal).encode() + b"\n"


@pytest.mark.parametrize("field", ["crowd_prob_final", "crowd_prob_at_forecast"])
def test_a_huge_integer_crowd_probability_is_a_line_error(tmp_path, field):
    path = write_lines(tmp_path / "q.jsonl", [question_row(1), raw_line(question_row(2), field, HUGE_INT)])
    with pytest.raises(CommandError) as info:
        run("import_questions", path)
    assert f"line 2: '{field}' must be between 0 and 1, found 99999" in str(info.value)
    assert "(401 characters)" in str(info.value)
    assert counts() == (0, 0, 0, 0, 0)


def test_a_huge_integer_outcome_is_a_short_line_error(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", [raw_line(question_row(1), "outcome", HUGE_INT)])
    with pytest.raises(CommandError, match=r"line 1: 'outcome' must be 1 \(YES\)") as info:
        run("import_questions", path)
    assert len(str(info.value)) < 300


@pytest.mark.usefixtures("two_questions")
@pytest.mark.parametrize("literal", [HUGE_INT, "-" + HUGE_INT, "1" + "0" * 400 + ".5"])
def test_a_huge_probability_is_a_line_error(tmp_path, literal):
    path = write_lines(
        tmp_path / "f.jsonl", [forecast_row(1), raw_line(forecast_row(2), "probability", literal)]
    )
    with pytest.raises(CommandError, match="line 2: 'probability' must be between 0 and 1"):
        run("import_forecasts", path)
    assert (Round.objects.count(), ModelRun.objects.count()) == (0, 0)


@pytest.mark.usefixtures("two_questions")
def test_integer_probabilities_zero_and_one_are_accepted(tmp_path):
    rows = [forecast_row(1, "model-a", 0), forecast_row(1, "model-b", 1)]
    run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows))
    assert sorted(ModelRun.objects.values_list("probability", flat=True)) == [0.0, 1.0]


@pytest.mark.parametrize("field", ["created_date", "resolution_date"])
@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "0001-01-01", "9999-12-31", "1899-12-31"],
)
def test_a_question_date_out_of_range_is_a_line_error(tmp_path, field, value):
    rows = [question_row(1), question_row(2, **{field: value})]
    if field == "created_date":
        rows[1]["resolution_date"] = None
    with pytest.raises(CommandError, match=re.escape(f"line 2: '{field}' is out of range: '{value}'")):
        run("import_questions", write_lines(tmp_path / "q.jsonl", rows))
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.usefixtures("two_questions")
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_a_forecast_date_beyond_datetime_is_a_line_error(tmp_path, value):
    path = write_lines(tmp_path / "f.jsonl", [forecast_row(1), forecast_row(2, forecast_date=value)])
    with pytest.raises(CommandError, match="line 2: 'forecast_date' is out of range"):
        run("import_forecasts", path)
    assert Round.objects.count() == 0


def test_dates_at_the_ends_of_the_range_are_accepted(tmp_path):
    rows = [question_row(1, created_date="1900-01-01T00:30:00+00:00", resolution_date="2199-12-31")]
    run("import_questions", write_lines(tmp_path / "q.jsonl", rows))
    question = Question.objects.get()
    assert question.published_at == datetime(1900, 1, 1, 0, 30, tzinfo=UTC)
    assert question.resolves_at == datetime(2199, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize("slug", ["my-slug\n", "my-slug\r\n", "\nmy-slug"])
def test_a_slug_with_a_line_break_is_refused(tmp_path, slug):
    with pytest.raises(CommandError, match="line 1: 'slug' may hold only"):
        run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, slug=slug)]))


# --- Category names ASCII cannot spell --------------------------------------------


def test_a_category_without_ascii_letters_gets_a_stable_ascii_slug_that_resolves(tmp_path, client):
    path = write_lines(tmp_path / "q.jsonl", [question_row(1, category="日本")])
    run("import_questions", path)
    category = Category.objects.get(name="日本")
    assert re.fullmatch(r"category-[0-9a-f]{6}", category.slug)
    assert client.get(category.get_absolute_url()).status_code == 200

    run("import_questions", write_lines(tmp_path / "r.jsonl", [question_row(2, category="日本")]))
    assert list(Category.objects.values_list("slug", flat=True)) == [category.slug]


def test_names_that_differ_only_in_non_ascii_letters_stay_two_categories(tmp_path):
    rows = [
        question_row(1, category="日本"),
        question_row(2, category="中国"),
        question_row(3, category="Ελλάδα"),
    ]
    run("import_questions", write_lines(tmp_path / "q.jsonl", rows))
    slugs = set(Category.objects.values_list("slug", flat=True))
    assert len(slugs) == 3
    assert all(slug.isascii() for slug in slugs)


def test_a_mixed_name_keeps_its_ascii_part_and_never_merges_with_the_ascii_name(tmp_path):
    rows = [question_row(1, category="AI"), question_row(2, category="AI 日本")]
    run("import_questions", write_lines(tmp_path / "q.jsonl", rows))
    assert Category.objects.get(name="AI").slug == "ai"
    assert re.fullmatch(r"ai-[0-9a-f]{6}", Category.objects.get(name="AI 日本").slug)


def test_case_variants_of_a_non_ascii_name_are_one_category_like_ascii_ones(tmp_path):
    rows = [question_row(1, category="AI 日本"), question_row(2, category="Ai 日本")]
    out = run("import_questions", write_lines(tmp_path / "q.jsonl", rows))
    assert "1 new categories" in out
    assert Question.objects.filter(category__name="AI 日本").count() == 2


def test_accents_are_spelt_in_ascii_without_a_digest(tmp_path):
    run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, category="Économie")]))
    assert Category.objects.get().slug == "economie"


def test_a_digest_clash_with_another_name_gets_a_longer_digest(tmp_path):
    from questions import importing

    Category.objects.create(name="中国", slug=importing.category_slug("日本"))
    run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, category="日本")]))
    slug = Category.objects.get(name="日本").slug
    assert re.fullmatch(r"category-[0-9a-f]{16}", slug)


@pytest.mark.parametrize("name", ["!!!", "🚀🚀", "—"])
def test_a_category_without_any_letter_or_digit_is_still_refused(tmp_path, name):
    with pytest.raises(CommandError, match="line 1: 'category' needs at least one letter or digit"):
        run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, category=name)]))


# --- Control characters, NUL and lone surrogates -----------------------------------

# json.dumps writes these as the escapes a hostile file would use: \u0000, \u001b, \ud800...
# Low surrogate before high: two lone ones, not a pair.
DIRTY = "\x00\x1b\x08\x0b\x0c\x7f\x85\udfff\ud800\ufffe"


def test_texts_of_a_question_are_cleaned_and_stored(tmp_path, client):
    row = question_row(
        1,
        question=f"Will{DIRTY} it\train\r\nin Geneva?",
        category=f"Wea{DIRTY}ther",
        background=f"Line one{DIRTY}\r\nLine two\tindented 😀",
        resolution_criteria=f"YES{DIRTY} if it rains.",
        resolution_note=f"Noted{DIRTY}.",
        outcome=1,
    )
    line = json.dumps(row).encode() + b"\n"
    assert b"\\u0000" in line and b"\\ud800" in line
    run("import_questions", write_lines(tmp_path / "q.jsonl", [line]))

    question = Question.objects.get()
    assert question.title == "Will it rain in Geneva?"
    assert question.category.name == "Weather"
    assert question.background == "Line one\nLine two\tindented 😀"
    assert question.resolution_criteria == "YES if it rains."
    assert question.resolution_note == "Noted."
    assert client.get(question.get_absolute_url()).status_code == 200

    out = run("import_questions", write_lines(tmp_path / "again.jsonl", [line]))
    assert "0 created, 0 updated, 1 unchanged" in out


def test_a_json_surrogate_pair_is_an_emoji_not_a_lone_surrogate(tmp_path):
    line = json.dumps(question_row(1, question="Will 😀 win?")).encode() + b"\n"
    assert b"\\ud83d\\ude00" in line
    run("import_questions", write_lines(tmp_path / "q.jsonl", [line]))
    assert Question.objects.get().title == "Will 😀 win?"


@pytest.mark.parametrize("field", ["question", "category"])
def test_a_title_or_category_of_control_characters_only_is_empty(tmp_path, field):
    rows = [question_row(1), question_row(2, **{field: "\x00\ud800\x1b \n"})]
    with pytest.raises(CommandError, match=f"line 2: '{field}' must not be empty"):
        run("import_questions", write_lines(tmp_path / "q.jsonl", rows))
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source_id", "q-\x001", "'source_id' contains a control character (U+0000 at character 3)"),
        ("source", "test\ud800source", "'source' contains a lone surrogate (U+D800 at character 5)"),
        ("source_id", "q\n9", "'source_id' contains a control character (U+000A at character 2)"),
        ("url", "https://example.org/\x1b[31m", "'url' contains a control character (U+001B"),
    ],
    ids=["nul", "surrogate", "newline", "escape"],
)
def test_a_control_character_in_a_question_identifier_is_a_line_error(tmp_path, field, value, message):
    rows = [question_row(1), question_row(9, **{field: value})]
    with pytest.raises(CommandError) as info:
        run("import_questions", write_lines(tmp_path / "q.jsonl", rows))
    assert f"line 2: {message}" in str(info.value)
    assert counts() == (0, 0, 0, 0, 0)


def test_whitespace_around_an_identifier_is_still_stripped(tmp_path):
    run("import_questions", write_lines(tmp_path / "q.jsonl", [question_row(1, source_id=" q-1\n")]))
    assert Question.objects.get().source_id == "q-1"


@pytest.mark.usefixtures("two_questions")
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "model\x00-x"}, "'model' contains a control character (U+0000"),
        ({"model": "model-\udc00"}, "'model' contains a lone surrogate (U+DC00"),
        ({"source_id": "q-\ud8002"}, "'source_id' contains a lone surrogate"),
        ({"in_panel": False, "prompt_variant": "c\x1bot"}, "'prompt_variant' contains a control character"),
    ],
    ids=["model-nul", "model-surrogate", "source-id-surrogate", "variant-escape"],
)
def test_a_control_character_in_a_forecast_identifier_is_a_line_error(tmp_path, changes, message):
    rows = [forecast_row(1), forecast_row(2, **changes)]
    with pytest.raises(CommandError) as info:
        run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows), "--all")
    assert f"line 2: {message}" in str(info.value)
    assert (Round.objects.count(), ModelRun.objects.count()) == (0, 0)


@pytest.mark.usefixtures("two_questions")
def test_a_rationale_is_cleaned_and_a_runaway_one_is_cut(tmp_path, client):
    from forecasts.text import MAX_RATIONALE_CHARS, TRUNCATION_MARK

    rows = [
        forecast_row(1, "model-a", rationale=f"Because{DIRTY}\r\nreasons 📈"),
        forecast_row(1, "model-b", rationale="word " * MAX_RATIONALE_CHARS),
    ]
    path = write_lines(tmp_path / "f.jsonl", rows)
    run("import_forecasts", path)
    assert ModelRun.objects.get(model_name="model-a").rationale == "Because\nreasons 📈"
    long = ModelRun.objects.get(model_name="model-b").rationale
    assert len(long) <= MAX_RATIONALE_CHARS
    assert long.endswith(TRUNCATION_MARK)
    assert client.get(Question.objects.get(source_id="q-1").get_absolute_url()).status_code == 200

    assert "0 created, 0 updated, 2 unchanged" in run("import_forecasts", path)


# --- Forecast dates a forecast cannot have -------------------------------------------

NOW = datetime(2025, 1, 15, 12, tzinfo=UTC)


@pytest.fixture
def at_now():
    import time_machine

    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.usefixtures("two_questions", "at_now")
@pytest.mark.parametrize(
    "value", ["9999-12-31", "2025-01-17", "2025-01-16T12:00:01Z", "2025-01-16T14:00:01+02:00"]
)
def test_a_forecast_dated_more_than_a_day_ahead_is_a_line_error(tmp_path, value):
    path = write_lines(tmp_path / "f.jsonl", [forecast_row(1), forecast_row(2, forecast_date=value)])
    with pytest.raises(CommandError) as info:
        run("import_forecasts", path)
    assert f"line 2: 'forecast_date' is in the future: '{value}'" in str(info.value)
    assert "the latest accepted is 2025-01-16 12:00 UTC" in str(info.value)
    assert (Round.objects.count(), ModelRun.objects.count()) == (0, 0)


@pytest.mark.usefixtures("two_questions", "at_now")
def test_a_forecast_up_to_a_day_ahead_is_accepted(tmp_path):
    rows = [
        forecast_row(1, forecast_date="2025-01-16"),
        forecast_row(2, forecast_date="2025-01-16T12:00:00Z"),
    ]
    run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows))
    assert Round.objects.count() == 2


@pytest.mark.usefixtures("two_questions")
@pytest.mark.parametrize(
    ("value", "shown"),
    [("0001-01-01", None), ("2024-01-08", "2024-01-08 00:00"), ("2024-01-08T23:59:59Z", "2024-01-08 23:59")],
)
def test_a_forecast_dated_before_its_question_is_a_line_error(tmp_path, value, shown):
    # The questions were created on 2024-01-10.
    path = write_lines(tmp_path / "f.jsonl", [forecast_row(1), forecast_row(2, forecast_date=value)])
    with pytest.raises(CommandError) as info:
        run("import_forecasts", path)
    if shown is None:  # before any date a file may hold
        assert "line 2: 'forecast_date' is out of range: '0001-01-01'" in str(info.value)
    else:
        assert (
            f"line 2: 'forecast_date' {shown} UTC is before its question was published "
            "(2024-01-10 00:00 UTC)" in str(info.value)
        )
    assert (Round.objects.count(), ModelRun.objects.count()) == (0, 0)


@pytest.mark.usefixtures("two_questions")
def test_a_forecast_a_day_before_its_question_is_accepted(tmp_path):
    rows = [forecast_row(1, forecast_date="2024-01-09"), forecast_row(2, forecast_date="2024-01-10")]
    run("import_forecasts", write_lines(tmp_path / "f.jsonl", rows))
    assert Round.objects.count() == 2


def test_a_question_made_on_the_site_without_a_publication_time_takes_any_forecast_in_range(tmp_path):
    QuestionFactory(source="site", source_id="draft-1", published_at=None, status="draft")
    row = forecast_row(1, source_id="draft-1", forecast_date="1990-05-01")
    run("import_forecasts", write_lines(tmp_path / "f.jsonl", [row]))
    assert ModelRun.objects.get().answered_at == datetime(1990, 5, 1, tzinfo=UTC)


@pytest.mark.usefixtures("two_questions")
def test_a_label_with_control_characters_is_cleaned(tmp_path):
    run(
        "import_forecasts",
        write_lines(tmp_path / "f.jsonl", [forecast_row(1)]),
        "--label",
        "mine\x00\nruns\ud800",
    )
    assert Round.objects.get().label == "mine runs"
