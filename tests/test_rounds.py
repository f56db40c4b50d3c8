"""The round pipeline, end to end through a real HTTP server speaking the OpenAI protocol."""

import json
import math
from datetime import timedelta

import pytest
from django.utils import timezone

from forecasts import services
from forecasts.models import ModelRun, Round, Snapshot
from tests.factories import QuestionFactory, make_round

pytestmark = pytest.mark.django_db

FENCE = "```"


def ok(p, rationale="Reasons."):
    return {"content": json.dumps({"probability": p, "rationale": rationale})}


def run_new_round(question):
    rnd = services.create_manual_round(question)
    return rnd, services.run_round(rnd.pk)


def statuses(rnd):
    return dict(ModelRun.objects.filter(round=rnd).values_list("model_name", "status"))


def test_a_round_survives_what_real_models_return(panel, replay_server):
    replay_server.script = {
        "model-a": [{"content": '{"probability": 0.62, "rationale": "Steady decline in prices."}'}],
        "model-b": [
            {"content": FENCE + 'json\n{"probability": "55%", "rationale": "Mixed signals."}\n' + FENCE}
        ],
        "model-c": [
            {
                "content": "<think>Prices fell 60% last year; maybe 0.4? or 85%?</think>\n"
                "Hardware supply is improving.\nFinal probability: 71%"
            }
        ],
        "model-d": [{"status": 500}],
    }
    question = QuestionFactory()
    rnd, snapshot = run_new_round(question)

    runs = {r.model_name: r for r in ModelRun.objects.filter(round=rnd)}
    assert runs["Seat A"].probability == 0.62
    assert runs["Seat B"].probability == 0.55
    assert runs["Seat C"].probability == 0.71
    assert runs["Seat D"].status == ModelRun.Status.PROVIDER_ERROR
    assert runs["Seat D"].probability is None
    assert snapshot.models_ok == 3 and snapshot.models_failed == 1
    assert round(snapshot.mean * 100) == 63
    assert round(snapshot.spread * 100) == 16
    assert runs["Seat A"].raw_output.startswith('{"probability": 0.62')
    assert runs["Seat A"].prompt_tokens == 120 and runs["Seat A"].completion_tokens == 80
    # 120 tokens in at $1/M plus 80 out at $2/M.
    assert float(runs["Seat A"].cost_usd) == pytest.approx(0.00028)
    assert runs["Seat A"].latency_ms is not None


def test_the_prompt_carries_the_question_and_both_dates(panel, replay_server):
    replay_server.script = {m: [ok(0.5)] for m in ("model-a", "model-b", "model-c", "model-d")}
    question = QuestionFactory(
        title="Will the bridge open?", background="It is late.", resolution_criteria="Opens to traffic."
    )
    run_new_round(question)
    prompt = replay_server.calls_for("model-a")[0]["messages"][-1]["content"]
    assert "Will the bridge open?" in prompt
    assert "It is late." in prompt and "Opens to traffic." in prompt
    assert f"Resolution date: {question.resolves_at:%Y-%m-%d}" in prompt
    assert f"Today's date: {timezone.now():%Y-%m-%d}" in prompt


def test_a_failed_model_is_left_out_of_the_average_and_spread(panel, replay_server):
    replay_server.script = {
        "model-a": [ok(0.60)],
        "model-b": [ok(0.70)],
        "model-c": [{"status": 503}],
        "model-d": [ok(0.50)],
    }
    _, snapshot = run_new_round(QuestionFactory())
    assert snapshot.mean == pytest.approx(0.60)
    assert snapshot.spread == pytest.approx(0.20)
    assert (snapshot.models_ok, snapshot.models_failed) == (3, 1)


def test_zero_and_one_are_answers_and_nothing_non_finite_is_stored(panel, replay_server):
    replay_server.script = {
        "model-a": [ok(0)],
        "model-b": [ok(1.0)],
        "model-c": [{"content": "0%"}],
        "model-d": [ok(0.5)],
    }
    _, snapshot = run_new_round(QuestionFactory())
    assert snapshot.models_ok == 4
    assert snapshot.mean == pytest.approx(0.375)
    assert snapshot.spread == pytest.approx(1.0)
    for value in (snapshot.mean, snapshot.median, snapshot.minimum, snapshot.maximum, snapshot.spread):
        assert math.isfinite(value)


def test_when_every_model_fails_no_snapshot_is_written_and_the_previous_one_stands(panel, replay_server):
    question = QuestionFactory()
    _, previous = make_round(question, [0.4, 0.5], when=timezone.now() - timedelta(days=1))
    replay_server.script = {m: [{"status": 500}] for m in ("model-a", "model-b", "model-c", "model-d")}
    rnd, snapshot = run_new_round(question)
    assert snapshot is None
    rnd.refresh_from_db()
    assert rnd.status == Round.Status.FAILED
    assert list(Snapshot.objects.filter(question=question)) == [previous]


def test_one_answer_makes_a_snapshot_of_one_with_no_spread(panel, replay_server):
    replay_server.script = {
        "model-a": [ok(0.3)],
        "model-b": [{"status": 500}],
        "model-c": [{"status": 404}],
        "model-d": [{"content": "no idea"}],
    }
    _, snapshot = run_new_round(QuestionFactory())
    assert snapshot.models_ok == 1 and snapshot.models_failed == 3
    assert snapshot.spread == 0


def test_a_provider_that_rejects_json_schema_is_asked_once_more_in_json_mode(panel, replay_server):
    replay_server.script = {
        "model-a": [{"reject_json_schema": True, "content": '{"probability": 0.4, "rationale": "ok"}'}],
        "model-b": [ok(0.5)],
        "model-c": [ok(0.5)],
        "model-d": [ok(0.5)],
    }
    rnd, _ = run_new_round(QuestionFactory())
    calls = replay_server.calls_for("model-a")
    assert [c["response_format"]["type"] for c in calls] == ["json_schema", "json_object"]
    run = ModelRun.objects.get(round=rnd, model_name="Seat A")
    assert (run.status, run.probability, run.output_mode) == ("ok", 0.4, "json_object")
    assert len(replay_server.calls_for("model-b")) == 1


def test_an_output_mode_pinned_in_the_panel_is_used_from_the_first_call(panel, replay_server):
    panel[0].output_mode = "text"
    panel[0].save()
    replay_server.script = {m: [ok(0.5)] for m in ("model-a", "model-b", "model-c", "model-d")}
    run_new_round(QuestionFactory())
    assert "response_format" not in replay_server.calls_for("model-a")[0]


@pytest.mark.parametrize("timeout_setting", [None])
def test_an_empty_timeout_means_the_default_not_forever(panel, replay_server, settings, timeout_setting):
    settings.FORECAST_DEFAULT_TIMEOUT = 0.3
    settings.FORECAST_MAX_RETRIES = 1
    panel[0].timeout_seconds = timeout_setting
    panel[0].save()
    replay_server.script = {
        "model-a": [{"hang": 10}],
        "model-b": [ok(0.5)],
        "model-c": [ok(0.6)],
        "model-d": [ok(0.7)],
    }
    rnd, snapshot = run_new_round(QuestionFactory())
    run = ModelRun.objects.get(round=rnd, model_name="Seat A")
    assert run.status == ModelRun.Status.TIMEOUT
    assert run.attempts == 2
    assert len(replay_server.calls_for("model-a")) == 2
    assert snapshot.models_ok == 3


def test_a_stalled_model_cannot_hold_the_round_past_its_deadline(panel, replay_server, settings):
    # The per-call timeout is long here; only the round's deadline can end the wait.
    settings.FORECAST_DEFAULT_TIMEOUT = 60
    settings.FORECAST_ROUND_DEADLINE = 1.0
    replay_server.script = {
        "model-a": [{"hang": 30}],
        "model-b": [ok(0.5)],
        "model-c": [ok(0.6)],
        "model-d": [ok(0.7)],
    }
    rnd, snapshot = run_new_round(QuestionFactory())
    assert statuses(rnd)["Seat A"] == ModelRun.Status.TIMEOUT
    assert snapshot.models_ok == 3


def test_a_streamed_reply_with_a_final_usage_chunk_without_choices_parses(panel, replay_server):
    for pm in panel:
        pm.stream = True
        pm.save()
    replay_server.script = {
        "model-a": [{"content": '{"probability": 0.6, "rationale": "ok"}'}],
        "model-b": [{"content": '{"probability": 0.6, "rationale": "ok"}', "usage": None}],
        "model-c": [ok(0.6)],
        "model-d": [ok(0.6)],
    }
    rnd, snapshot = run_new_round(QuestionFactory())
    runs = {r.model_name: r for r in ModelRun.objects.filter(round=rnd)}
    assert runs["Seat A"].probability == 0.6 and runs["Seat A"].completion_tokens == 80
    assert runs["Seat B"].probability == 0.6 and runs["Seat B"].completion_tokens is None
    assert replay_server.calls_for("model-a")[0]["stream"] is True


def test_transient_errors_are_retried_a_bounded_number_of_times(panel, replay_server, settings):
    settings.FORECAST_MAX_RETRIES = 3
    replay_server.script = {
        "model-a": [{"status": 503}],
        "model-b": [{"status": 429, "headers": {"Retry-After": "0"}}, ok(0.4)],
        "model-c": [{"status": 500}, {"status": 502}, ok(0.5)],
        "model-d": [ok(0.6)],
    }
    rnd, snapshot = run_new_round(QuestionFactory())
    assert len(replay_server.calls_for("model-a")) == 4
    assert len(replay_server.calls_for("model-b")) == 2
    assert len(replay_server.calls_for("model-c")) == 3
    run_a = ModelRun.objects.get(round=rnd, model_name="Seat A")
    assert run_a.status == "provider_error" and run_a.attempts == 4
    assert snapshot.models_ok == 3


@pytest.mark.parametrize(
    "behaviour",
    [
        {"status": 400, "error": {"message": "bad model parameter"}},
        {"status": 401, "error": {"message": "Incorrect API key"}},
        {"status": 404, "error": {"message": "no such model"}},
        {
            "status": 429,
            "error": {"code": "insufficient_quota", "message": "You exceeded your current quota"},
        },
        {"content": "I have thoughts but no number."},
        {"content": '{"probability": 140, "rationale": "x"}'},
        {"refusal": "I can't help with predicting that.", "content": None},
    ],
)
def test_errors_that_asking_again_cannot_fix_are_not_retried(panel, replay_server, behaviour):
    replay_server.script = {
        "model-a": [behaviour],
        "model-b": [ok(0.5)],
        "model-c": [ok(0.5)],
        "model-d": [ok(0.5)],
    }
    rnd, _ = run_new_round(QuestionFactory())
    assert len(replay_server.calls_for("model-a")) == 1
    run = ModelRun.objects.get(round=rnd, model_name="Seat A")
    assert run.status != "ok" and run.probability is None


def test_a_refusal_is_stored_as_a_refusal_with_its_text(panel, replay_server):
    replay_server.script = {
        "model-a": [{"refusal": "I can't help with predicting that.", "content": None}],
        "model-b": [{"content": "I'm sorry, but I can't give a probability for this question."}],
        "model-c": [ok(0.5)],
        "model-d": [ok(0.5)],
    }
    rnd, snapshot = run_new_round(QuestionFactory())
    runs = {r.model_name: r for r in ModelRun.objects.filter(round=rnd)}
    assert runs["Seat A"].status == "refused" and "can't help" in runs["Seat A"].raw_output
    assert runs["Seat B"].status == "refused"
    assert snapshot.models_ok == 2 and snapshot.mean == 0.5


def test_a_truncated_reply_is_asked_once_more_with_a_larger_budget(panel, replay_server):
    cut = {
        "content": '{"probability": 0.4, "rationale": "The committee has not yet',
        "finish_reason": "length",
    }
    replay_server.script = {
        "model-a": [cut],
        "model-b": [{"content": None, "finish_reason": "length"}, ok(0.45)],
        "model-c": [ok(0.5)],
        "model-d": [ok(0.5)],
    }
    rnd, _ = run_new_round(QuestionFactory())
    calls = replay_server.calls_for("model-a")
    assert len(calls) == 2
    assert calls[1]["max_tokens"] == 2 * calls[0]["max_tokens"]
    runs = {r.model_name: r for r in ModelRun.objects.filter(round=rnd)}
    assert runs["Seat A"].status == "truncated" and runs["Seat A"].probability is None
    assert "token limit" in runs["Seat A"].error_message
    assert runs["Seat B"].status == "ok" and runs["Seat B"].probability == 0.45


def test_an_error_object_inside_a_200_reply_is_a_provider_error(panel, replay_server, settings):
    settings.FORECAST_MAX_RETRIES = 1
    replay_server.script = {
        "model-a": [{"error_in_200": {"message": "upstream overloaded", "code": 502}}],
        "model-b": [ok(0.5)],
        "model-c": [ok(0.5)],
        "model-d": [ok(0.5)],
    }
    rnd, _ = run_new_round(QuestionFactory())
    run = ModelRun.objects.get(round=rnd, model_name="Seat A")
    assert run.status == "provider_error" and "upstream overloaded" in run.error_message
    assert len(replay_server.calls_for("model-a")) == 2


def test_a_round_delivered_twice_asks_the_models_once(panel, replay_server):
    replay_server.script = {m: [ok(0.5)] for m in ("model-a", "model-b", "model-c", "model-d")}
    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    first = services.run_round(rnd.pk)
    second = services.run_round(rnd.pk)
    assert first is not None and second is None
    assert len(replay_server.calls) == 4
    assert Snapshot.objects.filter(question=question).count() == 1


def test_a_round_left_by_a_dead_worker_is_finished_asking_only_the_missing_models(
    panel, replay_server, settings
):
    replay_server.script = {m: [ok(0.5)] for m in ("model-a", "model-b", "model-c", "model-d")}
    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    # The worker claimed the round, recorded one answer, then died.
    long_ago = timezone.now() - timedelta(seconds=settings.FORECAST_CLAIM_LEASE + 60)
    Round.objects.filter(pk=rnd.pk).update(status=Round.Status.RUNNING, claimed_at=long_ago, claims=1)
    ModelRun.objects.create(
        round=rnd, question=question, model_name="Seat A", status="ok", probability=0.9, answered_at=long_ago
    )
    assert rnd.pk in services.stranded_round_ids()
    snapshot = services.run_round(rnd.pk)
    assert replay_server.calls_for("model-a") == []
    assert len(replay_server.calls) == 3
    assert snapshot.models_ok == 4 and snapshot.maximum == 0.9


def test_a_round_claimed_recently_by_another_worker_is_left_alone(panel, replay_server):
    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    Round.objects.filter(pk=rnd.pk).update(status=Round.Status.RUNNING, claimed_at=timezone.now())
    assert services.run_round(rnd.pk) is None
    assert replay_server.calls == []


def test_two_dispatchers_create_one_round_per_question_and_slot(panel):
    q1, q2 = QuestionFactory(cadence_hours=6), QuestionFactory(cadence_hours=24)
    now = timezone.now().replace(hour=1, minute=0)
    first = services.create_due_rounds(now=now)
    second = services.create_due_rounds(now=now + timedelta(minutes=1))
    assert len(first) == 2 and second == []
    assert Round.objects.filter(question=q1).count() == 1
    # The next slot makes the question due again.
    third = services.create_due_rounds(now=now + timedelta(hours=6))
    assert [Round.objects.get(pk=pk).question for pk in third] == [q1]
    assert Round.objects.filter(question=q2).count() == 1


def test_closed_drafts_and_past_closing_questions_are_not_due(panel):
    QuestionFactory(status="closed")
    QuestionFactory(status="draft")
    QuestionFactory(closes_at=timezone.now() - timedelta(hours=1))
    QuestionFactory(published_at=timezone.now() + timedelta(days=1))
    assert services.create_due_rounds() == []


def test_no_api_key_appears_in_stored_errors(panel, replay_server, monkeypatch):
    monkeypatch.setenv("SEAT_A_API_KEY", "sk-live-abcdef123456")
    panel[0].api_key_env = "SEAT_A_API_KEY"
    panel[0].save()
    replay_server.script = {
        "model-a": [
            {"status": 401, "error": {"message": "Incorrect API key provided: sk-live-abcdef123456."}}
        ],
        "model-b": [ok(0.5)],
        "model-c": [ok(0.5)],
        "model-d": [ok(0.5)],
    }
    rnd, _ = run_new_round(QuestionFactory())
    run = ModelRun.objects.get(round=rnd, model_name="Seat A")
    assert "sk-live-abcdef123456" not in run.error_message + run.raw_output
    assert "[redacted]" in run.error_message
    # The key did go to the provider, in the header where it belongs.
    assert replay_server.calls_for("model-a")


def test_one_base_url_variable_points_the_whole_panel_at_a_compatible_server(
    db, replay_server, monkeypatch, client
):
    """The acceptance scenario: a panel with no base URLs of its own, OPENAI_BASE_URL set."""
    from forecasts.models import PanelModel

    monkeypatch.setenv("OPENAI_BASE_URL", replay_server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    seats = list(PanelModel.objects.active())
    assert len(seats) == 4 and all(not s.base_url for s in seats)
    replies = [
        {"content": '{"probability": 0.62, "rationale": "Prices keep falling."}'},
        {"content": FENCE + 'json\n{"probability": "55%", "rationale": "Mixed signals."}\n' + FENCE},
        {"content": "<think>Draft: 30%? 0.9?</think>Supply is improving.\nFinal probability: 71%"},
        {"status": 500},
    ]
    replay_server.script = {seat.model: [reply] for seat, reply in zip(seats, replies, strict=True)}
    question = QuestionFactory()
    rnd, snapshot = run_new_round(question)

    assert sorted(ModelRun.objects.filter(round=rnd).values_list("status", flat=True)) == [
        "ok",
        "ok",
        "ok",
        "provider_error",
    ]
    page = client.get(question.get_absolute_url()).content.decode()
    assert "3-model average" in page
    assert "63%" in page
    assert "16pt spread" in page
    assert "API error" in page
    assert "HTTP 500" not in page  # error details are for editors


def test_an_unparseable_reply_is_stored_whole_with_an_excerpt_in_the_error(panel, replay_server):
    reply = "The outlook is murky and I will not commit to a figure today."
    replay_server.script = {
        "model-a": [{"content": reply}],
        **{m: [ok(0.5)] for m in ("model-b", "model-c", "model-d")},
    }
    rnd, _ = run_new_round(QuestionFactory())
    run = ModelRun.objects.get(round=rnd, model_name="Seat A")
    assert run.status == "unparseable" and run.probability is None
    assert run.raw_output == reply
    assert "The outlook is murky" in run.error_message


def test_a_bare_number_above_one_is_stored_as_a_percent_and_flagged(panel, replay_server):
    replay_server.script = {
        "model-a": [{"content": '{"probability": 65, "rationale": "x"}'}],
        "model-b": [{"content": '{"probability": -0.1, "rationale": "x"}'}],
        "model-c": [ok(0.5)],
        "model-d": [ok(0.5)],
    }
    rnd, _ = run_new_round(QuestionFactory())
    runs = {r.model_name: r for r in ModelRun.objects.filter(round=rnd)}
    assert (runs["Seat A"].probability, runs["Seat A"].was_percent) == (0.65, True)
    assert (runs["Seat B"].status, runs["Seat B"].probability) == ("unparseable", None)


def test_the_database_refuses_a_probability_outside_zero_to_one():
    from django.db import IntegrityError, transaction

    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelRun.objects.create(
            round=rnd,
            question=question,
            model_name="X",
            status="ok",
            probability=1.2,
            answered_at=timezone.now(),
        )
