"""One snapshot per question and slot with real processes: workers, two beats, SIGKILL, a hung provider.

marker: worker. Needs PostgreSQL and Redis (TEST_CELERY_BROKER_URL), as
tests/worker.py explains. The simple duplicate delivery lives in test_worker.py.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forecasts import services
from forecasts.models import ModelRun, Round, Snapshot
from tests.factories import QuestionFactory
from tests.worker import ROOT, Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MODELS = ("model-a", "model-b", "model-c", "model-d")


def ok(p):
    return {"content": json.dumps({"probability": p, "rationale": "From the worker."})}


def script(replay_server, **per_model):
    replay_server.script = {m: per_model.get(m.replace("-", "_"), [ok(0.5)]) for m in MODELS}


def children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def calls(replay_server):
    return {m: len(replay_server.calls_for(m)) for m in MODELS}


@pytest.fixture
def workers():
    started = []

    def start(**kwargs):
        worker = Worker(**kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_a_countdown_task_and_an_immediate_duplicate_ask_each_model_once(panel, replay_server, workers):
    script(replay_server)
    worker = workers().start()
    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    worker.send("forecasts.tasks.run_round", rnd.pk, countdown=2)
    worker.send("forecasts.tasks.run_round", rnd.pk)
    assert wait_for(lambda: Round.objects.get(pk=rnd.pk).status == Round.Status.DONE, timeout=30)
    # The delayed copy arrives after the round is done and must find nothing to do.
    assert wait_for(lambda: worker.log().count("succeeded") >= 2, timeout=20), worker.log()[-3000:]
    assert "already taken or finished" in worker.log()
    assert Snapshot.objects.filter(question=question).count() == 1
    assert calls(replay_server) == dict.fromkeys(MODELS, 1)
    assert Round.objects.get(pk=rnd.pk).claims == 1


class Beat:
    def __init__(self, worker, name, seconds):
        self.log_path = Path(f"/tmp/celery-{worker.queue}-{name}.log")
        self.schedule = Path(f"/tmp/celery-{worker.queue}-{name}.schedule")
        env = {**worker.env, "FORECAST_DISPATCH_SECONDS": str(seconds)}
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "forecastsite",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(self.schedule),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def sent(self):
        return self.log_path.read_text().count("Sending due task")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        for path in self.schedule.parent.glob(self.schedule.name + "*"):
            path.unlink(missing_ok=True)


def test_two_beat_processes_make_one_round_and_one_snapshot_per_question_and_slot(
    panel, replay_server, workers
):
    script(replay_server)
    worker = workers(concurrency=2).start()
    questions = [QuestionFactory() for _ in range(3)]
    beats = [Beat(worker, name, seconds=1) for name in ("beat-1", "beat-2")]
    try:
        assert wait_for(lambda: Snapshot.objects.count() == 3, timeout=40), worker.log()[-3000:]
        # Let both schedulers go on dispatching the same slot for a while.
        assert wait_for(lambda: all(beat.sent() >= 3 for beat in beats), timeout=20), [
            b.log_path.read_text()[-2000:] for b in beats
        ]
    finally:
        for beat in beats:
            beat.stop()
    wait_for(lambda: worker.log().count("dispatch_due_rounds") >= 6, timeout=10)
    for question in questions:
        assert Round.objects.filter(question=question).count() == 1
        assert Snapshot.objects.filter(question=question).count() == 1
    assert calls(replay_server) == dict.fromkeys(MODELS, 3)


def _round_in_flight(replay_server, worker):
    """A scheduled round whose Seat A hangs while the other three have answered."""
    script(replay_server, model_a=[{"hang": 60}, ok(0.9)])
    question = QuestionFactory()
    [round_id] = services.create_due_rounds()
    worker.send("forecasts.tasks.run_round", round_id)
    assert wait_for(lambda: ModelRun.objects.filter(round_id=round_id).count() == 3, timeout=30), (
        worker.log()[-3000:]
    )
    assert len(replay_server.calls_for("model-a")) == 1
    return question, round_id


def _assert_finished_once(question, round_id, replay_server):
    snapshot = Snapshot.objects.get(question=question)
    assert snapshot.round_id == round_id
    assert (snapshot.models_ok, snapshot.models_failed) == (4, 0)
    assert snapshot.maximum == 0.9
    # The three who had answered are not asked again; Seat A is asked once more.
    assert calls(replay_server) == {"model-a": 2, "model-b": 1, "model-c": 1, "model-d": 1}
    assert Round.objects.filter(question=question).count() == 1
    assert Round.objects.get(pk=round_id).status == Round.Status.DONE


LEASE = 3
RECEIVED_ROUND = re.compile(r"run_round\[[0-9a-f-]+\] received")


def test_a_pool_process_killed_mid_round_is_finished_once_without_asking_again(panel, replay_server, workers):
    worker = workers(concurrency=1, extra_env={"FORECAST_CLAIM_LEASE": str(LEASE)}).start()
    question, round_id = _round_in_flight(replay_server, worker)
    [pool_process] = children(worker.process.pid)
    os.kill(pool_process, signal.SIGKILL)
    # Late acknowledgement puts the message back at once, while the dead
    # process's claim is still fresh: the task looks again once the lease has
    # run out, with no dispatcher involved, and the round ends once.
    assert wait_for(lambda: "WorkerLostError" in worker.log(), timeout=15), worker.log()[-3000:]
    assert wait_for(lambda: len(RECEIVED_ROUND.findall(worker.log())) >= 2, timeout=15), worker.log()[-3000:]
    assert wait_for(lambda: Snapshot.objects.filter(question=question).exists(), timeout=30), worker.log()[
        -3000:
    ]
    _assert_finished_once(question, round_id, replay_server)
    assert Round.objects.get(pk=round_id).claims == 2


def test_a_worker_killed_whole_mid_round_is_redelivered_to_a_new_worker_and_finished_once(
    panel, replay_server, workers
):
    env = {"FORECAST_CLAIM_LEASE": str(LEASE), "CELERY_VISIBILITY_TIMEOUT": str(LEASE)}
    first = workers(concurrency=1, extra_env=env).start()
    question, round_id = _round_in_flight(replay_server, first)
    # The whole machine goes: main process and pool, no chance to requeue anything.
    pool = children(first.process.pid)
    first.process.send_signal(signal.SIGKILL)
    for pid in pool:
        os.kill(pid, signal.SIGKILL)
    first.process.wait()
    time.sleep(LEASE + 0.5)
    # A new worker on the same queue finds the unacknowledged message past
    # its visibility timeout and runs it.
    second = workers(concurrency=1, extra_env=env)
    second.queue = second.env["CELERY_QUEUE"] = first.queue
    second.start()
    assert wait_for(lambda: Snapshot.objects.filter(question=question).exists(), timeout=30), second.log()[
        -3000:
    ]
    _assert_finished_once(question, round_id, replay_server)
    assert Round.objects.get(pk=round_id).claims == 2


def test_a_hung_provider_holds_the_worker_no_longer_than_the_soft_time_limit(panel, replay_server, workers):
    # No client timeout or round deadline will end the wait: only the task's limit can.
    worker = workers(
        concurrency=1,
        extra_env={
            "FORECAST_DEFAULT_TIMEOUT": "120",
            "FORECAST_ROUND_DEADLINE": "120",
            "CELERY_TASK_SOFT_TIME_LIMIT": "4",
            "CELERY_TASK_TIME_LIMIT": "10",
        },
    ).start()
    script(replay_server, model_a=[{"hang": 60}, ok(0.9)])
    first, second = QuestionFactory(), QuestionFactory()
    first_round = services.create_manual_round(first)
    second_round = services.create_manual_round(second)
    worker.send("forecasts.tasks.run_round", first_round.pk)
    worker.send("forecasts.tasks.run_round", second_round.pk)
    assert wait_for(lambda: Snapshot.objects.filter(question=first).exists(), timeout=45), (
        list(ModelRun.objects.values_list("model_name", "status")),
        worker.log()[-3000:],
    )
    snapshot = Snapshot.objects.get(question=first)
    # Measured inside the worker from the task's start (the task returns the
    # snapshot's id): a busy machine's delay in handing it over does not count.
    finished = wait_for(
        lambda: re.search(rf"run_round\[[0-9a-f-]+\] succeeded in ([0-9.]+)s: {snapshot.pk}\b", worker.log()),
        timeout=10,
    )
    assert finished, worker.log()[-3000:]
    # The round keeps its own deadline inside the soft limit; the limit's
    # signal is only the last resort.
    assert float(finished[1]) < 6
    runs = dict(ModelRun.objects.filter(round=first_round).values_list("model_name", "status"))
    assert runs == {"Seat A": "timeout", "Seat B": "ok", "Seat C": "ok", "Seat D": "ok"}
    assert (snapshot.models_ok, snapshot.models_failed) == (3, 1)
    # The single pool process is free again and takes the next round at once.
    assert wait_for(lambda: Snapshot.objects.filter(question=second).exists(), timeout=15), worker.log()[
        -3000:
    ]
    assert Snapshot.objects.get(question=second).models_ok == 4
