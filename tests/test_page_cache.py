"""The readers' page cache: what it serves, to whom, and when it lets go."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from questions import services
from tests.factories import QuestionFactory, make_round

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_local_copies():
    # Each worker keeps recent pages in memory too; tests start without them,
    # and without a cache failure remembered from an earlier test.
    from forecasts.cache import local_copies

    local_copies.clear()
    services.local_versions.clear()
    services.reset_cache_errors()
    yield
    local_copies.clear()
    services.local_versions.clear()
    services.reset_cache_errors()


# A Redis nobody listens on: every cache call fails at once.
DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture
def question():
    q = QuestionFactory(status="open", published_at=timezone.now() - timedelta(days=10))
    make_round(q, [0.20, 0.30, 0.40, 0.30], when=timezone.now() - timedelta(hours=6))
    return q


def test_it_serves_the_second_anonymous_request_from_the_cache(client, question):
    url = question.get_absolute_url()
    first = client.get(url)
    second = client.get(url)
    assert first["X-Page-Cache"] == "miss"
    assert second["X-Page-Cache"] == "hit"
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert "HX-Request" in second["Vary"]


def test_a_cached_page_shows_a_new_snapshot(client, question):
    url = question.get_absolute_url()
    assert "30%" in client.get(url).content.decode()
    assert client.get(url)["X-Page-Cache"] == "hit"
    make_round(question, [0.80, 0.90, 0.70, 0.80], when=timezone.now())
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"
    assert "80%" in response.content.decode()


def test_a_cached_page_shows_a_resolution_and_its_undoing(client, question):
    url = question.get_absolute_url()
    assert "Resolved YES" not in client.get(url).content.decode()
    client.get(url)
    services.resolve(question, outcome=True)
    assert "Resolved YES" in client.get(url).content.decode()
    question.refresh_from_db()
    services.unresolve(question)
    assert "Resolved YES" not in client.get(url).content.decode()


def test_a_cached_trajectory_shows_a_new_snapshot(client, question):
    url = f"{question.get_absolute_url()}trajectory.json"
    before = client.get(url).json()
    assert client.get(url)["X-Page-Cache"] == "hit"
    make_round(question, [0.80, 0.90, 0.70, 0.80], when=timezone.now())
    after = client.get(url).json()
    assert after["count"] == before["count"] + 1


def test_htmx_fragment_and_full_page_are_cached_apart(client, question):
    url = f"{question.get_absolute_url()}trajectory/"
    page = client.get(url)
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment["X-Page-Cache"] == "miss"
    assert b"<html" in page.content
    assert b"<html" not in fragment.content
    # Each comes back as itself from the cache, whichever was stored last.
    assert b"<html" in client.get(url).content
    assert b"<html" not in client.get(url, headers={"HX-Request": "true"}).content
    assert client.get(url)["X-Page-Cache"] == "hit"


def test_staff_are_never_served_a_cached_copy(client, question):
    url = question.get_absolute_url()
    client.get(url)
    assert client.get(url)["X-Page-Cache"] == "hit"
    staff = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    assert "X-Page-Cache" not in response
    # Signed in, the page carries the user's own CSRF token for HTMX posts.
    assert b"x-csrftoken" in response.content


def test_anonymous_pages_carry_no_csrf_token_or_cookie(client, question):
    response = client.get(question.get_absolute_url())
    assert b"x-csrftoken" not in response.content
    assert "csrftoken" not in response.cookies


def test_errors_are_not_cached(client, question):
    assert client.get("/questions/no-such-question/").status_code == 404
    response = client.get("/questions/no-such-question/")
    assert response.status_code == 404
    assert "X-Page-Cache" not in response


def test_query_strings_are_cached_apart(client, question):
    url = f"{question.get_absolute_url()}trajectory.json"
    month = client.get(url, {"range": "1m"})
    everything = client.get(url, {"range": "all"})
    assert everything["X-Page-Cache"] == "miss"
    assert month.json()["range"] != everything.json()["range"]


def test_feeds_and_home_are_cached(client, question):
    for url in ("/", "/feeds/"):
        client.get(url)
        assert client.get(url)["X-Page-Cache"] == "hit", url


def test_a_cached_copy_keeps_the_security_headers(client, question):
    url = question.get_absolute_url()
    first = client.get(url)
    second = client.get(url)
    assert second["X-Page-Cache"] == "hit"
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert second[header] == first[header], header


def test_a_request_with_a_session_cookie_is_never_served_from_the_cache(client, question):
    url = question.get_absolute_url()
    client.get(url)
    client.cookies["sessionid"] = "not-a-real-session"
    response = client.get(url)
    assert response.status_code == 200
    assert "X-Page-Cache" not in response


def test_a_worker_never_serves_its_local_copy_after_an_invalidation(client, question):
    from django.core.cache import cache

    url = question.get_absolute_url()
    client.get(url)
    client.get(url)
    # Another worker wrote a round: the question's generation moved, this worker's memory did not.
    cache.incr(services.question_key(question.slug))
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"


def test_a_worker_never_serves_its_local_copy_of_a_list_after_an_invalidation(client, question):
    from django.core.cache import cache

    client.get("/")
    assert client.get("/")["X-Page-Cache"] == "hit"
    cache.incr(services.GENERATION_KEY)
    assert client.get("/")["X-Page-Cache"] == "miss"


# --- per-question generations -------------------------------------------------------


@pytest.fixture
def other():
    q = QuestionFactory(status="open", published_at=timezone.now() - timedelta(days=10))
    make_round(q, [0.60, 0.60, 0.60, 0.60], when=timezone.now() - timedelta(hours=6))
    return q


def _question_urls(q):
    base = q.get_absolute_url()
    return [base, f"{base}trajectory.json", f"/feeds/questions/{q.slug}/", f"/api/v1/questions/{q.slug}/"]


def test_a_round_of_one_question_keeps_the_other_questions_pages_cached(client, question, other):
    for url in _question_urls(other):
        client.get(url)
    make_round(question, [0.80, 0.90, 0.70, 0.80], when=timezone.now())
    for url in _question_urls(other)[:3]:
        assert client.get(url)["X-Page-Cache"] == "hit", url
    # The API keeps its own cache: a second read is served without a query.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(_question_urls(other)[3]).status_code == 200
    assert len(queries) == 0


def test_a_round_invalidates_its_own_question_pages_and_the_lists(client, question, other):
    for url in [*_question_urls(question)[:3], "/", "/feeds/"]:
        client.get(url)
    make_round(question, [0.80, 0.90, 0.70, 0.80], when=timezone.now())
    for url in [*_question_urls(question)[:3], "/", "/feeds/"]:
        assert client.get(url)["X-Page-Cache"] == "miss", url
    assert client.get(f"/api/v1/questions/{question.slug}/").json()["latest"]["mean"] == pytest.approx(0.8)


def test_a_resolution_invalidates_every_question_page(client, question, other):
    # The category's track record on every question page may change.
    url = other.get_absolute_url()
    client.get(url)
    services.resolve(question, outcome=True)
    assert client.get(url)["X-Page-Cache"] == "miss"


def test_successful_answers_alone_do_not_invalidate_pages(client, question):
    from forecasts.models import ModelRun

    url = question.get_absolute_url()
    client.get(url)
    run = ModelRun.objects.filter(question=question, status=ModelRun.Status.OK).first()
    run.rationale = "edited"
    run.save()
    assert client.get(url)["X-Page-Cache"] == "hit"


def test_a_failed_answer_invalidates_its_question(client, question):
    # A round where every model fails writes no Snapshot but shows on the page.
    from forecasts.models import ModelRun

    url = question.get_absolute_url()
    client.get(url)
    run = ModelRun.objects.filter(question=question).first()
    run.status = ModelRun.Status.TIMEOUT
    run.probability = None
    run.save()
    assert client.get(url)["X-Page-Cache"] == "miss"


def test_a_cascade_delete_bumps_once_per_transaction(question):
    from unittest import mock

    for hours in range(1, 30):
        make_round(question, [0.5, 0.5], when=timezone.now() - timedelta(days=1, hours=hours))
    with mock.patch.object(services, "_bump_now", wraps=services._bump_now) as bump:
        question.delete()
    # Once at once and once on commit (the test transaction never commits: once).
    assert bump.call_count == 1


# --- query strings --------------------------------------------------------------------


def test_unknown_query_parameters_are_served_uncached(client, question):
    url = f"{question.get_absolute_url()}?x=1"
    assert client.get(url).status_code == 200
    response = client.get(url)
    assert response.status_code == 200
    assert "X-Page-Cache" not in response


def test_known_query_parameters_are_cached(client, question):
    client.get("/?status=open&page=1")
    assert client.get("/?status=open&page=1")["X-Page-Cache"] == "hit"


# --- a cache that is down -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/feeds/", "", "trajectory.json", "trajectory/", "/api/v1/questions/"])
def test_pages_render_when_redis_is_down(client, question, caplog, path):
    url = path if path.startswith("/") else question.get_absolute_url() + path
    with override_settings(CACHES=DEAD_REDIS):
        for _ in range(2):
            response = client.get(url)
            assert response.status_code == 200, url
            assert "X-Page-Cache" not in response
    assert any("cache unavailable" in r.getMessage() for r in caplog.records)


def test_the_api_detail_renders_when_redis_is_down(client, question):
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get(f"/api/v1/questions/{question.slug}/")
    assert response.status_code == 200
    assert response.json()["slug"] == question.slug


def test_writes_succeed_when_redis_is_down(question):
    with override_settings(CACHES=DEAD_REDIS):
        make_round(question, [0.80, 0.90, 0.70, 0.80], when=timezone.now())
        services.resolve(question, outcome=True)
    question.refresh_from_db()
    assert question.status == question.Status.RESOLVED


def test_a_cache_failure_is_logged_at_most_once_a_minute(client, question, caplog):
    with override_settings(CACHES=DEAD_REDIS):
        for _ in range(3):
            client.get("/")
            # Past the pause after a failure, so each request tries Redis again.
            services._cache_state["down_until"] = 0.0
    assert sum("cache unavailable" in r.getMessage() for r in caplog.records) == 1


# --- generations remembered per process (production) ------------------------------


def test_a_hit_costs_no_cache_round_trip_while_the_generations_are_fresh(client, question, settings):
    from unittest import mock

    settings.PAGE_CACHE_VERSION_SECONDS = 60
    url = question.get_absolute_url()
    client.get(url)
    refuse = AssertionError("asked the cache")
    with (
        mock.patch.object(services, "cache_call", side_effect=refuse),
        mock.patch("forecasts.cache.cache_call", side_effect=refuse),
    ):
        assert client.get(url)["X-Page-Cache"] == "hit"


def test_this_processs_writes_show_at_once_with_remembered_generations(client, question, settings):
    settings.PAGE_CACHE_VERSION_SECONDS = 60
    url = question.get_absolute_url()
    client.get(url)
    make_round(question, [0.80, 0.90, 0.70, 0.80], when=timezone.now())
    assert client.get(url)["X-Page-Cache"] == "miss"


def test_another_processs_write_shows_once_the_remembered_generations_expire(
    client, question, settings, monkeypatch
):
    import time

    from django.core.cache import cache

    settings.PAGE_CACHE_VERSION_SECONDS = 1
    url = question.get_absolute_url()
    client.get(url)
    cache.incr(services.question_key(question.slug))
    # Within the second, this worker still trusts what it read.
    assert client.get(url)["X-Page-Cache"] == "hit"
    later = time.monotonic() + 1.5
    monkeypatch.setattr("forecasts.cache.time.monotonic", lambda: later)
    assert client.get(url)["X-Page-Cache"] == "miss"
