"""Every provider fault on one, two and all four seats: what is stored, shown and how often a model is asked.

Each cell runs a real round against the replay server (or, for "connection
refused", against a port nobody listens on), then reads the database, the
question page, its feeds and the JSON API as a reader would.
"""

import json
import math
import re
import socket
import statistics
import time

import pytest
from django.test import Client

from forecasts import providers, services
from forecasts.models import ModelRun, Round, Snapshot
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db

MODELS = ("model-a", "model-b", "model-c", "model-d")
SEATS = ("Seat A", "Seat B", "Seat C", "Seat D")
# Seats that are not faulty answer these, so the expected average is known.
GOOD = {"model-a": 0.2, "model-b": 0.4, "model-c": 0.6, "model-d": 0.8}
MAX_RETRIES = 2
RETRY_AFTER = 0.15
TRANSIENT = MAX_RETRIES + 1


def answer(p):
    return {"content": json.dumps({"probability": p, "rationale": f"Reasons for {p}."})}


# name: (script for a faulty seat, stored status, calls the seat makes, counts as an answer)
FAULTS = {
    "timeout": ([{"hang": 10}], "timeout", TRANSIENT, False),
    "connection-refused": (None, "provider_error", TRANSIENT, False),
    "429-retry-after": (
        [{"status": 429, "headers": {"Retry-After": str(RETRY_AFTER)}}],
        "provider_error",
        TRANSIENT,
        False,
    ),
    "429-spent-quota": (
        [
            {
                "status": 429,
                "error": {
                    "code": "insufficient_quota",
                    "type": "insufficient_quota",
                    "message": "You exceeded your current quota, please check your plan and billing details.",
                },
            }
        ],
        "provider_error",
        1,
        False,
    ),
    "500": ([{"status": 500}], "provider_error", TRANSIENT, False),
    "503-outage": ([{"status": 503}], "provider_error", TRANSIENT, False),
    "error-in-200": (
        [{"error_in_200": {"message": "upstream provider failed", "code": 502}}],
        "provider_error",
        TRANSIENT,
        False,
    ),
    "missing-usage": ([{**answer(0.9), "usage": None}], "ok", 1, True),
    "malformed-json-body": (
        [{"raw": '{"id": "chatcmpl-1", "choices": [{"message": {"content": "{\\"probab'}],
        "provider_error",
        TRANSIENT,
        False,
    ),
    "truncated-json": (
        [
            {
                "content": '{"probability": 0.4, "rationale": "The committee has not yet',
                "finish_reason": "length",
            }
        ],
        "truncated",
        2,
        False,
    ),
    "refusal": ([{"refusal": "I can't help with predicting that.", "content": None}], "refused", 1, False),
    "out-of-range": ([answer(140.5)], "unparseable", 1, False),
}
SPREADS = {"one": 1, "two": 2, "all-four": 4}

# A float written out as text: "nan", "NaN", "inf", "-Infinity", not inside a word.
NON_FINITE = re.compile(r"(?<![A-Za-z])-?(nan|inf|infinity)(?![A-Za-z])", re.IGNORECASE)


@pytest.fixture
def matrix_settings(settings):
    settings.FORECAST_MAX_RETRIES = MAX_RETRIES
    # Above Retry-After, so the cell can show that the header is waited for.
    settings.FORECAST_BACKOFF_MAX = 0.3
    settings.FORECAST_BACKOFF_BASE = 0.01
    return settings


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Closed again: connecting is refused at once.
    return f"http://127.0.0.1:{port}/v1"


def strict_json(text):
    def refuse(constant):
        raise AssertionError(f"non-finite number {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def assert_finite(*values):
    for value in values:
        if value is not None:
            assert math.isfinite(float(value)), value


def assert_no_non_finite_text(text, where):
    found = NON_FINITE.search(text)
    assert found is None, (
        f"{where}: {found.group(0)!r} near {text[max(found.start() - 80, 0) : found.end() + 80]!r}"
    )


@pytest.mark.parametrize("spread", SPREADS)
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_cell(panel, replay_server, matrix_settings, fault, spread):
    script, status, calls, counts_as_answer = FAULTS[fault]
    faulty = MODELS[: SPREADS[spread]]
    replay_server.script = {m: (script or []) if m in faulty else [answer(GOOD[m])] for m in MODELS}
    for pm in panel[: SPREADS[spread]]:
        if script is None:
            pm.base_url = closed_port_url()
        # Only the faulty seats get a short timeout: a slow but sound reply on
        # a busy machine must not turn into a timeout.
        pm.timeout_seconds = 0.2
        pm.save()
    question = QuestionFactory()
    rnd = services.create_manual_round(question)

    started = time.monotonic()
    snapshot = services.run_round(rnd.pk)
    elapsed = time.monotonic() - started

    # Stored statuses: the faulty seats carry the fault's status, the others answered.
    runs = {run.model_name: run for run in ModelRun.objects.filter(round=rnd)}
    assert set(runs) == set(SEATS)
    for seat, model in zip(SEATS, MODELS, strict=True):
        run = runs[seat]
        if model in faulty:
            assert run.status == status, (seat, run.status, run.error_message)
            if status != "ok":
                assert run.probability is None
                assert run.error_message
        else:
            assert (run.status, run.probability) == ("ok", GOOD[model])
        assert_finite(run.probability, run.cost_usd, run.latency_ms)

    # How often each seat was asked: bounded for transient faults, once for
    # answers that asking again cannot fix, twice for a cut-off reply.
    for model, pm in zip(MODELS, panel, strict=True):
        made = len(replay_server.calls_for(model))
        if model not in faulty:
            assert made == 1
        elif script is None:
            assert made == 0
            assert runs[pm.name].attempts == calls
        else:
            assert made == calls, (model, made)
            assert runs[pm.name].attempts == calls
    if fault == "429-retry-after":
        # Each retry waited at least the Retry-After the provider asked for.
        assert runs["Seat A"].latency_ms >= MAX_RETRIES * RETRY_AFTER * 1000 * 0.9
    if fault == "missing-usage":
        assert runs["Seat A"].prompt_tokens is None and runs["Seat A"].cost_usd is None

    # The snapshot: from the seats that answered, none when all four failed.
    answered = [GOOD[m] for m in MODELS if m not in faulty]
    if counts_as_answer:
        answered += [0.9] * len(faulty)
    rnd.refresh_from_db()
    if answered:
        assert snapshot is not None and rnd.status == Round.Status.DONE
        assert snapshot.models_ok == len(answered)
        assert snapshot.models_failed == 4 - len(answered)
        assert snapshot.mean == pytest.approx(statistics.fmean(answered))
        assert snapshot.spread == pytest.approx(max(answered) - min(answered))
        assert_finite(snapshot.mean, snapshot.median, snapshot.minimum, snapshot.maximum, snapshot.spread)
    else:
        assert snapshot is None and rnd.status == Round.Status.FAILED
        assert not Snapshot.objects.filter(question=question).exists()

    # Nothing a reader can fetch shows a non-finite number or a stack trace.
    client = Client()
    slug = question.slug
    for url in (f"/questions/{slug}/", f"/feeds/questions/{slug}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert_no_non_finite_text(text, url)
        assert "Traceback" not in text
        if url.startswith("/questions/") and status != "ok":
            assert "API error" in text
    json_urls = [f"/api/v1/questions/{slug}/"]
    if spread == "all-four":
        # Rounds but no snapshot: the case most likely to produce an empty average.
        json_urls += [f"/questions/{slug}/trajectory.json", f"/api/v1/questions/{slug}/model-runs/"]
    for url in json_urls:
        response = client.get(url)
        assert response.status_code == 200, url
        strict_json(response.content)

    # A round is bounded in time too: no cell waits anywhere near a real backoff.
    assert elapsed < 5


# --- Backoff ---------------------------------------------------------------------


@pytest.fixture
def real_backoff(settings):
    settings.FORECAST_BACKOFF_BASE = 2.0
    settings.FORECAST_BACKOFF_MAX = 60.0
    return settings


def test_backoff_grows_exponentially_up_to_the_cap(real_backoff):
    draws = {retry: [providers.backoff_delay(retry) for _ in range(400)] for retry in range(9)}
    for retry, values in draws.items():
        ceiling = min(60.0, 2.0 * 2**retry)
        assert all(1.0 <= v <= ceiling for v in values), retry
        # Full jitter reaches most of its range.
        assert max(values) > 0.9 * ceiling
    # Uniform between base/2 and base * 2**retry: the mean doubles with each retry.
    for retry in range(5):
        assert statistics.fmean(draws[retry]) == pytest.approx((1.0 + 2.0 * 2**retry) / 2, rel=0.1)
    # Past the cap the delay stops growing.
    assert max(draws[8]) <= 60.0
    assert statistics.fmean(draws[8]) == pytest.approx(statistics.fmean(draws[7]), rel=0.15)


def test_backoff_is_random_so_clients_do_not_retry_in_lockstep(real_backoff):
    values = [providers.backoff_delay(3) for _ in range(200)]
    assert len(set(values)) > 190
    assert statistics.pstdev(values) > 1.0


def test_backoff_waits_at_least_what_retry_after_asks_within_the_cap(real_backoff):
    assert all(providers.backoff_delay(0, retry_after=7.5) >= 7.5 for _ in range(100))
    # A delay from jitter longer than Retry-After is kept.
    assert max(providers.backoff_delay(5, retry_after=0.5) for _ in range(100)) > 0.5
    # An absurd Retry-After never parks a worker past the cap.
    assert all(providers.backoff_delay(0, retry_after=86400) <= 60.0 for _ in range(100))


def test_no_backoff_when_the_base_is_zero_except_what_retry_after_asks(settings):
    settings.FORECAST_BACKOFF_BASE = 0
    settings.FORECAST_BACKOFF_MAX = 60.0
    assert providers.backoff_delay(4) == 0.0
    assert providers.backoff_delay(4, retry_after=1.0) == 1.0
