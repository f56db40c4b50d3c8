"""Requests the site must answer sanely: HEAD, NUL bytes in URLs, and production's secret key."""

import secrets
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from forecastsite.middleware import NUL_MESSAGE
from tests.factories import CategoryFactory, QuestionFactory, make_round
from tests.settings_probe import load_settings

ROOT = Path(__file__).resolve().parent.parent


# --- SECRET_KEY in production -----------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "   \t  ", " " * 60, secrets.token_urlsafe(64)[:49], "ab" * 40],
    ids=["empty", "whitespace", "long-whitespace", "49-characters", "two-characters-repeated"],
)
def test_production_refuses_an_empty_blank_short_or_repetitive_secret_key(key):
    result = load_settings({"ENVIRONMENT": "production", "DEBUG": "false", "SECRET_KEY": key})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be at least 50 characters" in result.stderr


def test_production_starts_with_a_long_random_secret_key():
    result = load_settings(
        {"ENVIRONMENT": "production", "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50)}
    )

    assert result.returncode == 0, result.stderr


def test_a_short_secret_key_is_fine_in_development():
    result = load_settings({"SECRET_KEY": "short"})

    assert result.returncode == 0, result.stderr


# --- HEAD ---------------------------------------------------------------------------


@pytest.fixture
def question(db):
    question = QuestionFactory(category=CategoryFactory())
    make_round(question, [0.4, 0.6])
    return question


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/questions/{slug}/",
        "/questions/{slug}/trajectory.json",
        "/categories/{category}/",
        "/models/",
        "/methodology/",
        "/api/v1/questions/",
        "/api/v1/questions/{slug}/",
        "/api/v1/questions/{slug}/trajectory.csv",
        "/api/v1/categories/",
    ],
)
def test_head_answers_200_like_get_on_public_pages_and_the_api(client, question, path):
    path = path.format(slug=question.slug, category=question.category.slug)

    head = client.head(path)

    assert head.status_code == 200, path
    assert head.content == b""
    assert client.get(path).status_code == 200, path


def test_post_to_a_public_page_is_still_refused(client, question):
    assert client.post("/").status_code == 405
    assert client.post(f"/api/v1/questions/{question.slug}/").status_code == 405


# --- NUL bytes in URLs ------------------------------------------------------------


def _assert_refused(response):
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == NUL_MESSAGE


@pytest.mark.parametrize(
    "query",
    [
        "category=%00",
        "category=news%00",
        "%00=1",
        "status=open&category=a%00b",
        "q=%%00",
        "q=a\x00b",
    ],
)
def test_a_nul_byte_in_a_query_parameter_is_a_400_not_a_500(db, query):
    client = Client(raise_request_exception=False)

    for path in ("/api/v1/questions/", "/"):
        _assert_refused(client.get(path, QUERY_STRING=query))


def test_a_nul_byte_in_an_admin_filter_is_a_400_not_a_500(db):
    client = Client(raise_request_exception=False)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))

    _assert_refused(client.get("/admin/questions/question/?status__exact=%00"))
    _assert_refused(client.get("/admin/forecasts/modelrun/?q=x%00"))


def test_a_nul_byte_in_the_path_is_a_400(db):
    _assert_refused(Client(raise_request_exception=False).get("/questions/a%00b/"))


def test_an_escaped_percent_sign_is_not_taken_for_a_nul(client, question):
    # %2500 is the text "%00", which is no NUL byte.
    response = client.get("/api/v1/questions/?category=%2500")

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert client.get(f"/api/v1/questions/?category={question.category.slug}").status_code == 200
