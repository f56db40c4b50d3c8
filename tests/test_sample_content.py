import json
import re
from io import StringIO

import pytest
from django.core.management import call_command

from forecasts.models import ModelRun, PanelModel, Round, Snapshot
from questions.importing import SAMPLE_DIR, load_replay
from questions.models import Question
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db

SEATS = (
    "openai/gpt-4o",
    "anthropic/claude-3.5-sonnet",
    "meta-llama/llama-3.1-405b-instruct",
    "deepseek/deepseek-r1",
)


def sample_questions():
    with open(SAMPLE_DIR / "questions.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load(*args):
    out = StringIO()
    call_command("load_sample_content", "--quiet", *args, stdout=out)
    return out.getvalue()


def test_sample_content_loads_on_an_empty_database():
    out = load()
    rows = sample_questions()
    assert Question.objects.count() == len(rows)
    assert "sample rounds" in out and "not live forecasts" in out

    question = Question.objects.get(slug="70b-inference-below-5-cents")
    assert (
        question.title
        == "Will 70B-class model inference cost fall below $0.05 per 1M tokens by the end of 2026?"
    )
    assert question.category.name == "AI & Technology"
    assert question.status == "open"

    open_questions = Question.objects.filter(status="open")
    assert open_questions.count() == sum(1 for row in rows if row["outcome"] is None)
    for open_question in open_questions:
        rounds = Round.objects.filter(question=open_question)
        assert rounds.count() == 6
        assert set(rounds.values_list("kind", "label")) == {("imported", "sample history")}
        assert Snapshot.objects.filter(question=open_question, is_imported=True).count() == 6
    assert not ModelRun.objects.filter(is_imported=False).exists()


def test_sample_history_uses_the_panel_and_shows_the_recorded_error():
    load()
    question = Question.objects.get(slug="70b-inference-below-5-cents")
    first = Round.objects.filter(question=question).earliest("slot_at")
    runs = {run.panel_model.model: run for run in first.model_runs.select_related("panel_model")}
    assert set(runs) == set(SEATS)
    assert runs["anthropic/claude-3.5-sonnet"].status == "provider_error"
    assert first.snapshot.models_ok == 3 and first.snapshot.models_failed == 1
    assert runs["openai/gpt-4o"].rationale.startswith("Currently, inference costs for large models")


def test_resolved_sample_questions_have_forecasts_made_before_they_resolved():
    load()
    resolved = Question.objects.filter(status="resolved")
    assert {q.outcome for q in resolved} == {True, False}
    for question in resolved:
        snapshots = Snapshot.objects.filter(question=question)
        assert snapshots.count() == 6
        assert all(s.taken_at < question.resolves_at for s in snapshots)
        assert "sample" in question.resolution_note


def test_sample_content_is_a_no_op_on_a_database_with_questions():
    QuestionFactory()
    out = load()
    assert "already has 1 questions" in out
    assert Question.objects.count() == 1
    assert Round.objects.count() == 0


def test_forced_loading_twice_never_duplicates_the_history():
    QuestionFactory()
    load("--force")
    rounds = Round.objects.count()
    assert rounds > 0
    load("--force")
    assert Round.objects.count() == rounds
    assert Question.objects.count() == 1 + len(sample_questions())


def test_every_open_sample_question_has_two_or_three_recordings_per_panel_model():
    replay = load_replay()
    assert set(PanelModel.objects.values_list("model", flat=True)) == set(SEATS)
    assert replay["default"]
    for row in sample_questions():
        if row["outcome"] is not None:
            continue
        recordings = replay["questions"][row["question"]]
        assert set(recordings) == set(SEATS), row["question"]
        for answers in recordings.values():
            assert 1 <= len(answers) <= 3
            for answer in answers:
                if "error" in answer:
                    assert answer == {"error": 500}
                    continue
                assert 0 <= answer["probability"] <= 1
                sentences = len(re.findall(r"[.!?](\s|$)", answer["rationale"]))
                assert 1 <= sentences <= 6, answer["rationale"]
    assert sum(len(a) for q in replay["questions"].values() for a in q.values()) >= 60
    assert set(replay["questions"]) <= {row["question"] for row in sample_questions()}


@pytest.mark.shared_data
def test_sample_content_is_our_own_and_not_copied_from_the_shared_data(shared_data_dir):
    shared = (shared_data_dir / "questions.jsonl").read_text() + (
        shared_data_dir / "model_forecasts.jsonl"
    ).read_text()
    replay = load_replay()
    for row in sample_questions():
        assert row["question"] not in shared
        assert row["resolution_criteria"] not in shared
    for recordings in replay["questions"].values():
        for answers in recordings.values():
            for answer in answers:
                if "rationale" in answer:
                    assert answer["rationale"][:80] not in shared
