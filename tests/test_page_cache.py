"""The readers' page cache: what it serves, to whom, and when it lets go."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from questions import services
from tests.factories import QuestionFactory, make_round

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_local_copies():
    # Each worker keeps recent pages in memory too; tests start without them.
    from forecasts.cache import local_copies

    local_copies.clear()
    yield
    local_copies.clear()


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
    # Another worker wrote a round: the shared generation moved, this worker's memory did not.
    services.content_generation()
    cache.incr(services.GENERATION_KEY)
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"
