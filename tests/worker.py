"""A real Celery worker in a subprocess, taking tasks from Redis, for the slow worker tests."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def broker_url():
    url = os.environ.get("TEST_CELERY_BROKER_URL", "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("TEST_CELERY_BROKER_URL is not set: CI must run the worker tests against Redis")
        pytest.skip("no Redis for a worker (set TEST_CELERY_BROKER_URL, as bin/test does when Redis answers)")
    return url


def require_postgres():
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("the worker tests need PostgreSQL in CI")
        pytest.skip(
            "a worker process cannot share an SQLite test database; run with DATABASE_URL=postgres://..."
        )


def database_url():
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


class Worker:
    def __init__(self, extra_env=None, concurrency=2):
        require_postgres()
        self.broker = broker_url()
        self.queue = f"test-{uuid.uuid4().hex[:8]}"
        self.log_path = Path(f"/tmp/celery-{self.queue}.log")
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": self.broker,
            "CELERY_QUEUE": self.queue,
            # The cache this test process uses (its own Redis database under xdist).
            "REDIS_URL": settings.CACHES["default"].get("LOCATION", "")
            if os.environ.get("REDIS_URL")
            else "",
            "FORECAST_BACKOFF_BASE": "0.01",
            "FORECAST_BACKOFF_MAX": "0.05",
            "FORECAST_DEFAULT_TIMEOUT": "5",
            "FORECAST_ROUND_DEADLINE": "20",
            **(extra_env or {}),
        }
        self.env = env
        self.concurrency = concurrency
        self.process = None

    def start(self, timeout=60):
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "forecastsite",
                "worker",
                "-l",
                "INFO",
                "-c",
                str(self.concurrency),
                "-Q",
                self.queue,
                "-n",
                f"{self.queue}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group, so teardown can end the pool with it.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log_path.read_text():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.log_path.read_text()[-3000:]}")

    def send(self, task_name, *args, **options):
        from forecastsite.celery import app

        # send_task always goes to the broker, even in a process whose own
        # tasks run in-process.
        # The sender's configured time limits travel in the message and win
        # over the worker's own; send the limits this worker was started with.
        for option, variable in (
            ("soft_time_limit", "CELERY_TASK_SOFT_TIME_LIMIT"),
            ("time_limit", "CELERY_TASK_TIME_LIMIT"),
        ):
            if variable in self.env:
                options.setdefault(option, int(self.env[variable]))
        with warnings.catch_warnings(), app.connection_for_write(self.broker) as conn:
            warnings.simplefilter("ignore")
            app.send_task(task_name, args=args, queue=self.queue, connection=conn, **options)

    def log(self):
        return self.log_path.read_text()

    def stop(self):
        # A test worker's shutdown need not be graceful: its queue is its own,
        # and a warm shutdown waits seconds for the pool (longer on a hung call).
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


def wait_for(predicate, timeout=30, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()
