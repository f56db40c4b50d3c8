"""The read-only JSON API: what it shows, what it hides, and that it answers as its OpenAPI document says."""

import csv
import io
from datetime import timedelta

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, given, settings

from questions import services
from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    ai = CategoryFactory(slug="ai", name="AI")
    econ = CategoryFactory(slug="economy", name="Economy")
    open_q = QuestionFactory(category=ai, slug="cheap-inference", title="Will inference get cheap?")
    start = timezone.now() - timedelta(days=3)
    make_round(open_q, [0.3, 0.4, 0.5], when=start, failed=["Model D"])
    make_round(open_q, [0.5, 0.6, 0.7, 0.6], when=start + timedelta(days=1))
    resolved = QuestionFactory(category=econ, slug="rates", title="Will rates fall?")
    make_round(resolved, [0.8], when=start)
    services.resolve(resolved, True)
    QuestionFactory(category=ai, slug="draft-q", status=Question.Status.DRAFT, published_at=None)
    QuestionFactory(category=ai, slug="future-q", published_at=timezone.now() + timedelta(days=1))
    return open_q, resolved


# --- conformance to the OpenAPI document --------------------------------------


@pytest.fixture
def wsgi_app():
    """The site's WSGI app, keeping the test's database connection open between requests as Django's client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from forecastsite.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_endpoint_answers_as_documented(data, wsgi_app):
    """Schemathesis generates requests from the document and checks every response against it.

    Its checks cover status codes, content types, bodies against the schemas,
    and that nothing is a server error. Driven by hand rather than by
    schemathesis' pytest plugin, which does not load under pytest 9.
    """
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate()

        check()


def test_the_document_is_openapi_3_1_and_lists_every_endpoint(client):
    document = client.get("/api/openapi.json").json()

    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/",
        "/categories/",
        "/questions/",
        "/questions/{slug}/",
        "/questions/{slug}/snapshots/",
        "/questions/{slug}/model-runs/",
        "/questions/{slug}/trajectory.csv",
        "/questions/{slug}/model-runs.csv",
        "/track-records/",
    }


# --- what it shows -------------------------------------------------------------


def test_questions_list_only_published_questions(client, data):
    slugs = {q["slug"] for q in client.get("/api/v1/questions/").json()["results"]}

    assert slugs == {"cheap-inference", "rates"}
    assert client.get("/api/v1/questions/draft-q/").status_code == 404
    assert client.get("/api/v1/questions/future-q/").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=ai", {"cheap-inference"}),
        ("status=resolved", {"rates"}),
        ("status=open&category=economy", set()),
        ("category=nope", set()),
        ("updated_since=2000-01-01", {"cheap-inference", "rates"}),
    ],
)
def test_questions_filter(client, data, query, expected):
    slugs = {q["slug"] for q in client.get(f"/api/v1/questions/?{query}").json()["results"]}

    assert slugs == expected


def test_updated_since_counts_new_rounds(client, data):
    open_q, _ = data
    Question.objects.update(updated_at=timezone.now() - timedelta(days=30))
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    make_round(open_q, [0.1], when=timezone.now())

    response = client.get("/api/v1/questions/", {"updated_since": since})

    assert [q["slug"] for q in response.json()["results"]] == ["cheap-inference"]


@pytest.mark.parametrize(
    "query",
    [
        "status=draft",
        "status=bogus",
        "updated_since=yesterday",
        "updated_since=2026-13-45",
        "limit=0",
        "limit=101",
        "limit=ten",
        "offset=-1",
        "offset=99999999999999999999",
    ],
)
def test_bad_parameters_are_a_json_400(client, data, query):
    response = client.get(f"/api/v1/questions/?{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["status"] == 400


@pytest.mark.parametrize(
    "since", ["1376-11-30T12:35:05+21:47", "0001-01-01T00:00:00+05:00", "9999-12-31t23:59:59-05:00z"]
)
def test_updated_since_at_the_edges_of_the_calendar_is_not_a_server_error(client, data, since):
    response = client.get("/api/v1/questions/", {"updated_since": since})

    assert response.status_code in (200, 400)


def test_pages_link_to_each_other(client, data):
    first = client.get("/api/v1/questions/?limit=1").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 2 and first["previous"] is None
    assert second["next"] is None and second["previous"]
    assert first["results"][0]["slug"] != second["results"][0]["slug"]


def test_question_has_its_trajectory_and_latest_answers(client, data):
    body = client.get("/api/v1/questions/cheap-inference/").json()

    assert [s["mean"] for s in body["snapshots"]] == pytest.approx([0.6, 0.4])
    assert {r["model"]: r["probability"] for r in body["model_runs"]} == pytest.approx(
        {"Model A": 0.5, "Model B": 0.6, "Model C": 0.7, "Model D": 0.6}
    )
    assert body["latest"]["models_ok"] == 4


def test_model_runs_never_expose_errors_or_raw_output(client, data):
    open_q, _ = data
    open_q.model_runs.update(raw_output="RAW-SECRET", error_message="sk-live-KEY in traceback")

    pages = [
        client.get("/api/v1/questions/cheap-inference/model-runs/?limit=100").content,
        client.get("/api/v1/questions/cheap-inference/").content,
        client.get("/api/v1/questions/cheap-inference/model-runs.csv").content,
    ]

    for body in pages:
        assert b"RAW-SECRET" not in body and b"sk-live" not in body
    failed = [
        r for r in client.get("/api/v1/questions/cheap-inference/model-runs/?limit=100").json()["results"]
        if r["status"] != "ok"
    ]  # fmt: skip
    assert failed == [
        {**failed[0], "model": "Model D", "status": "provider_error", "probability": None, "rationale": ""}
    ]


def test_trajectory_csv_lists_every_snapshot_oldest_first(client, data):
    response = client.get("/api/v1/questions/cheap-inference/trajectory.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))

    assert response["Content-Type"].startswith("text/csv")
    assert [float(r["mean"]) for r in rows] == pytest.approx([0.4, 0.6])
    assert [r["models_failed"] for r in rows] == ["1", "0"]


def test_csv_defuses_spreadsheet_formulas_in_model_text(client, data):
    open_q, _ = data
    open_q.model_runs.filter(status="ok").update(rationale='=HYPERLINK("http://evil")')

    rows = list(
        csv.DictReader(
            io.StringIO(client.get("/api/v1/questions/cheap-inference/model-runs.csv").content.decode())
        )
    )

    assert {r["rationale"] for r in rows if r["status"] == "ok"} == {'\'=HYPERLINK("http://evil")'}


def test_responses_are_cached_until_the_content_changes(client, data, django_assert_num_queries):
    client.get("/api/v1/questions/rates/")
    with django_assert_num_queries(0):
        assert client.get("/api/v1/questions/rates/").json()["status"] == "resolved"

    services.unresolve(Question.objects.get(slug="rates"))

    assert client.get("/api/v1/questions/rates/").json()["status"] == "closed"


def test_track_records_follow_resolutions(client, data):
    body = client.get("/api/v1/track-records/").json()

    economy = next(c for c in body["categories"] if c["category"] == "economy")
    assert economy["n"] == 1
    assert economy["brier"] == pytest.approx(0.04)
    assert body["overall"]["n"] == 1


def test_the_api_root_lists_every_endpoint_and_the_document(client, data):
    response = client.get("/api/v1/")

    assert response.status_code == 200
    index = response.json()
    assert index["openapi"] == "http://testserver/api/openapi.json"
    assert client.get(index["openapi"]).status_code == 200
    endpoints = index["endpoints"]
    documented = client.get("/api/openapi.json").json()["paths"]
    assert {url.removeprefix("http://testserver/api/v1") for url in endpoints.values()} == set(documented) - {
        "/"
    }
    for url in endpoints.values():
        assert client.get(url.replace("{slug}", data[0].slug)).status_code == 200, url


@pytest.mark.parametrize("replay", [True, False])
def test_responses_say_whether_the_answers_are_replayed(client, data, settings, replay):
    settings.FORECAST_REPLAY = replay

    for url in (
        "/api/v1/",
        "/api/v1/questions/",
        f"/api/v1/questions/{data[0].slug}/",
        "/api/v1/track-records/",
    ):
        assert client.get(url).json()["replayed"] is replay, url


def test_probabilities_are_rounded_to_four_decimals_and_stay_numbers(client):
    question = QuestionFactory(slug="noisy")
    # Sums of fractions leave float noise in the last digits (0.1 + 0.2 is 0.30000000000000004).
    make_round(question, [0.1, 0.2, 0.54], when=timezone.now() - timedelta(hours=1))
    make_round(question, [0.123456789, 0.2, 0.3])

    detail = client.get("/api/v1/questions/noisy/").json()
    body = client.get("/api/v1/questions/noisy/").content.decode()

    assert "0.27999999999999997" not in body
    assert "0.123456789" not in body
    assert [s["mean"] for s in detail["snapshots"]][1] == 0.28
    assert sorted(r["probability"] for r in detail["model_runs"]) == [0.1235, 0.2, 0.3]
    assert detail["latest"]["mean"] == round((0.123456789 + 0.2 + 0.3) / 3, 4)
    trajectory = list(
        csv.reader(io.StringIO(client.get("/api/v1/questions/noisy/trajectory.csv").content.decode()))
    )
    assert trajectory[1][1] == "0.28"
