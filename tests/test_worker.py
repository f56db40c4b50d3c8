"""A real Celery worker takes rounds from Redis (marker: worker)."""

import json

import pytest

from forecasts import services
from forecasts.models import Round, Snapshot
from tests.factories import QuestionFactory
from tests.worker import Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    # One worker for the module: starting one takes seconds, and each test
    # uses fresh rows, so tests do not see each other's work.
    with django_db_blocker.unblock():
        w = Worker().start()
    yield w
    w.stop()


def answers(replay_server, p=0.5):
    replay_server.script = {
        m: [{"content": json.dumps({"probability": p, "rationale": "From the worker."})}]
        for m in ("model-a", "model-b", "model-c", "model-d")
    }


def test_a_worker_takes_a_round_from_redis_and_writes_the_snapshot(panel, replay_server, worker):
    answers(replay_server, 0.42)
    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    worker.send("forecasts.tasks.run_round", rnd.pk)
    snapshot = wait_for(lambda: Snapshot.objects.filter(round=rnd).first())
    assert snapshot is not None, worker.log()[-3000:]
    assert snapshot.mean == pytest.approx(0.42) and snapshot.models_ok == 4


def test_a_round_delivered_twice_to_the_worker_calls_each_model_once(panel, replay_server, worker):
    answers(replay_server)
    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    before = worker.log().count("already taken or finished")
    worker.send("forecasts.tasks.run_round", rnd.pk)
    worker.send("forecasts.tasks.run_round", rnd.pk)
    assert wait_for(lambda: Round.objects.get(pk=rnd.pk).status == Round.Status.DONE)
    # The copy finds the round taken: done already, or still running (it then
    # looks again once the claim's lease has run out).
    assert wait_for(lambda: worker.log().count("already taken or finished") > before, timeout=15), (
        worker.log()[-3000:]
    )
    assert Snapshot.objects.filter(question=question).count() == 1
    assert len(replay_server.calls) == 4


def test_two_schedulers_dispatching_the_same_slot_make_one_round_per_question(panel, replay_server, worker):
    answers(replay_server)
    questions = [QuestionFactory() for _ in range(3)]
    before = worker.log().count("succeeded")
    worker.send("forecasts.tasks.dispatch_due_rounds")
    worker.send("forecasts.tasks.dispatch_due_rounds")
    assert wait_for(lambda: Snapshot.objects.count() == 3, timeout=40), worker.log()[-3000:]
    # Two dispatches and three rounds.
    assert wait_for(lambda: worker.log().count("succeeded") >= before + 5, timeout=15)
    for question in questions:
        assert Round.objects.filter(question=question).count() == 1
        assert Snapshot.objects.filter(question=question).count() == 1
    assert len(replay_server.calls) == 12
