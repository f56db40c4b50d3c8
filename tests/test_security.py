"""Headers, deploy checks, CSRF, the admin's door, API keys that never leak, and bad input that changes nothing."""

import json
import logging
import os
import re
import secrets
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from forecasts import services
from forecasts.models import ModelRun, PanelModel, Round, Snapshot
from questions.models import Category, Question
from tests.factories import QuestionFactory, make_round
from tests.worker import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def question():
    q = QuestionFactory(title="Will the dam be finished by 2027?")
    make_round(q, [0.3, 0.5, 0.6, 0.7], names=["Seat A", "Seat B", "Seat C", "Seat D"])
    return q


@pytest.fixture
def superuser_client():
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def public_urls(q):
    return [
        "/",
        f"/questions/{q.slug}/",
        f"/questions/{q.slug}/trajectory/",
        f"/categories/{q.category.slug}/",
        "/models/",
        "/methodology/",
    ]


# --- Headers -------------------------------------------------------------------


def csp_directives(header):
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


def test_every_page_carries_a_policy_that_allows_no_inline_script(client, question):
    urls = public_urls(question) + [f"/feeds/questions/{question.slug}/", "/api/v1/questions/"]
    # Twice: the second request of a page may come from the page cache.
    hits = 0
    for url in urls + urls:
        response = client.get(url)
        hits += response.headers.get("X-Page-Cache") == "hit"
        assert response.status_code == 200, url
        policy = response.headers.get("Content-Security-Policy")
        assert policy, url
        directives = csp_directives(policy)
        script_src = directives.get("script-src", directives.get("default-src"))
        assert script_src == ["'self'"], (url, policy)
        for directive in ("script-src", "default-src", "style-src"):
            assert "'unsafe-inline'" not in directives.get(directive, []), (url, directive)
            assert "'unsafe-eval'" not in directives.get(directive, []), (url, directive)
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
    assert hits, "no page came from the page cache: its headers went untested"


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def test_pages_have_no_markup_the_policy_would_block(client, question):
    # The policy would stop these in a browser; the page must not need them.
    for url in public_urls(question):
        html = client.get(url).content.decode()
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_HANDLER.search(html), url
        assert ' style="' not in html, url


def test_production_settings_pass_the_deploy_check():
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "ENVIRONMENT": "production",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output


def test_production_refuses_the_development_secret_key():
    env = {"PATH": os.environ.get("PATH", ""), "ENVIRONMENT": "production", "DEBUG": "false"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


# --- CSRF and the admin ----------------------------------------------------------


def test_the_admin_login_refuses_a_post_without_a_csrf_token():
    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "root", "password": "pw"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_an_admin_action_without_a_csrf_token_is_refused_and_changes_nothing(question):
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    url = reverse("admin:questions_question_changelist")
    data = {"action": "close_selected", "_selected_action": [question.pk]}
    response = client.post(url, data)
    assert response.status_code == 403
    question.refresh_from_db()
    assert question.status == Question.Status.OPEN
    # The same action with the token goes through: CSRF is what stopped it.
    client.get(url)
    response = client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.status == Question.Status.CLOSED


@pytest.mark.parametrize("who", ["anonymous", "reader"])
def test_the_admin_is_only_for_staff(question, who):
    client = Client()
    if who == "reader":
        client.force_login(User.objects.create_user("reader", "r@example.com", "pw"))
    for url in (
        "/admin/",
        reverse("admin:questions_question_changelist"),
        reverse("admin:forecasts_panelmodel_changelist"),
        reverse("admin:questions_question_change", args=[question.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/admin/login/"), url


def test_staff_without_permissions_cannot_open_the_panel(question):
    client = Client()
    client.force_login(User.objects.create_user("staff", "s@example.com", "pw", is_staff=True))
    assert client.get("/admin/").status_code == 200
    assert client.get(reverse("admin:forecasts_panelmodel_changelist")).status_code == 403


# --- API keys --------------------------------------------------------------------

# Shaped unlike any provider's key, so only the site's knowledge of the
# variable, not a pattern, can hide it.
FAKE_KEY = "zq9Xv7TwLm3Kp2Rs8Nb4Hc6Yd1"


def test_an_api_key_echoed_by_a_provider_never_reaches_a_page_the_admin_a_log_or_the_database(
    panel, replay_server, monkeypatch, caplog, superuser_client
):
    monkeypatch.setenv("FS_TEST_SEAT_API_KEY", FAKE_KEY)
    for pm in panel:
        pm.api_key_env = "FS_TEST_SEAT_API_KEY"
        pm.save()
    replay_server.script = {
        "model-a": [
            {"echo_key": True, "status": 401, "error": {"message": "Incorrect API key provided: {api_key}."}}
        ],
        "model-b": [
            {
                "echo_key": True,
                "content": json.dumps({"probability": 0.4, "rationale": "Called with key {api_key} today."}),
            }
        ],
        "model-c": [{"echo_key": True, "content": "Your key {api_key} works. Probability: 55%"}],
        "model-d": [{"echo_key": True, "error_in_200": {"message": "upstream refused key {api_key}"}}],
    }
    question = QuestionFactory()
    rnd = services.create_manual_round(question)
    with caplog.at_level(logging.DEBUG):
        snapshot = services.run_round(rnd.pk)
    # The replay server did receive the key, and did echo it.
    assert snapshot is not None and snapshot.models_ok == 2
    runs = list(ModelRun.objects.filter(round=rnd))
    assert len(runs) == 4
    for run in runs:
        stored = " ".join([run.error_message, run.raw_output, run.rationale])
        assert FAKE_KEY not in stored, run.model_name
    assert "[redacted]" in ModelRun.objects.get(round=rnd, model_name="Seat A").error_message
    assert FAKE_KEY not in caplog.text

    pages = [
        Client().get(f"/questions/{question.slug}/"),
        Client().get(f"/api/v1/questions/{question.slug}/"),
        Client().get(f"/api/v1/questions/{question.slug}/model-runs/"),
        Client().get(f"/api/v1/questions/{question.slug}/model-runs.csv"),
        Client().get(f"/feeds/questions/{question.slug}/"),
        superuser_client.get(reverse("admin:forecasts_panelmodel_changelist")),
        superuser_client.get(reverse("admin:questions_question_change", args=[question.pk])),
        superuser_client.get(reverse("admin:forecasts_modelrun_changelist")),
    ]
    pages += [
        superuser_client.get(reverse("admin:forecasts_panelmodel_change", args=[pm.pk])) for pm in panel
    ]
    pages += [superuser_client.get(reverse("admin:forecasts_modelrun_change", args=[run.pk])) for run in runs]
    for response in pages:
        assert response.status_code == 200, response.request["PATH_INFO"]
        assert FAKE_KEY not in response.content.decode(), response.request["PATH_INFO"]
    # The admin names the variable and says whether it is set.
    panel_page = superuser_client.get(reverse("admin:forecasts_panelmodel_change", args=[panel[0].pk]))
    assert "FS_TEST_SEAT_API_KEY (set)" in panel_page.content.decode()


# --- Bad parameters ---------------------------------------------------------------

NOT_NUMBERS = ["abc", "1e3", "1.5", "NaN", "inf", "0x10", "%00", "99999999999999999999999"]
BAD_PAGING = [("limit", v) for v in [*NOT_NUMBERS, "0", "-1", "101"]] + [
    ("offset", v) for v in [*NOT_NUMBERS, "-1"]
]


@pytest.mark.parametrize(("param", "value"), BAD_PAGING)
def test_api_paging_parameters_that_are_out_of_range_or_not_numbers_are_a_400(client, question, param, value):
    for url in ("/api/v1/questions/", f"/api/v1/questions/{question.slug}/snapshots/", "/api/v1/categories/"):
        response = client.get(url, {param: value})
        assert response.status_code == 400, (url, value, response.status_code)
        assert "error" in response.json()


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("updated_since", "yesterday"),
        ("updated_since", "2026-13-45"),
        ("updated_since", "2026-01-01T25:00:00"),
        ("updated_since", "9" * 40),
        ("status", "bogus"),
        ("status", "draft"),
    ],
)
def test_api_filters_with_junk_are_a_400(client, question, param, value):
    response = client.get("/api/v1/questions/", {param: value})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["status"] == 400


@pytest.mark.parametrize("value", ["abc", "NaN", "inf", "-1", "1e309", "1000", "0x10", "%00"])
def test_feed_thresholds_that_are_out_of_range_or_not_numbers_are_a_400(client, question, value):
    for url in (
        "/feeds/",
        "/feeds/movers/",
        f"/feeds/questions/{question.slug}/",
        f"/feeds/categories/{question.category.slug}/",
    ):
        response = client.get(url, {"min_move": value})
        assert response.status_code == 400, (url, value, response.status_code)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/", {"page": "abc"}),
        ("/", {"page": "99999999999999999999"}),
        ("/", {"status": "<script>"}),
        ("/", {"category": "nope"}),
        ("{q}", {"round": "abc"}),
        ("{q}", {"round": "99999999999999999999999"}),
        ("{q}", {"round": "-1"}),
        ("{q}", {"range": "forever"}),
        ("{q}trajectory.json", {"range": "%00"}),
        ("{q}trajectory/", {"range": "9" * 30}),
        ("{c}", {"page": "-3"}),
    ],
)
def test_page_parameters_with_junk_never_give_a_server_error(client, question, path, params):
    url = path.format(q=f"/questions/{question.slug}/", c=f"/categories/{question.category.slug}/")
    response = client.get(url, params)
    assert response.status_code in (200, 400, 404), (url, params, response.status_code)


# --- Importers --------------------------------------------------------------------


def forecast_line(**changes):
    row = {
        "model": "model-a",
        "source_id": "q-1",
        "forecast_date": "2024-10-01",
        "probability": 0.4,
        "rationale": "Because.",
        "prompt_variant": "cot",
        "in_panel": True,
    }
    row.update(changes)
    return json.dumps(row).encode() + b"\n"


def question_line(**changes):
    row = {
        "source": "testsource",
        "source_id": "q-1",
        "question": "Will the import hold?",
        "category": "Imports",
        "background": "",
        "resolution_criteria": "It holds.",
        "created_date": "2024-01-10",
        "resolution_date": "2024-06-30",
        "outcome": None,
    }
    row.update(changes)
    return json.dumps(row).encode() + b"\n"


def counts():
    return tuple(m.objects.count() for m in (Category, Question, Round, ModelRun, Snapshot, PanelModel))


@pytest.fixture
def imported_question(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(question_line())
    call_command("import_questions", str(path), "--quiet", stdout=StringIO())
    path = tmp_path / "f.jsonl"
    path.write_bytes(forecast_line())
    call_command("import_forecasts", str(path), "--quiet", stdout=StringIO())
    return Question.objects.get(source_id="q-1")


@pytest.mark.parametrize(
    "bad",
    [
        forecast_line(model=7),
        forecast_line(forecast_date="2024-02-30"),
        forecast_line(forecast_date="tomorrow"),
        forecast_line(probability=[0.4]),
        forecast_line(probability=None),
        forecast_line(rationale={"text": "nested"}),
        forecast_line(source_id=12),
        b"\x00\x01\x02\xff\xfe binary junk\n",
        b"\xef\xbb\xbf" + b"{}" * 10 + b"\n",
        b'{"model": "' + b"m" * 2_000_000 + b'"}\n',
        b"{}\n",
        b"null\n",
    ],
    ids=[
        "model-number",
        "impossible-date",
        "word-date",
        "probability-list",
        "probability-null",
        "rationale-object",
        "source-id-number",
        "binary",
        "bom-and-junk",
        "huge-line",
        "empty-object",
        "null",
    ],
)
def test_a_bad_forecast_file_changes_nothing_that_was_there(tmp_path, imported_question, bad):
    before = counts()
    run = ModelRun.objects.get()
    path = tmp_path / "bad.jsonl"
    path.write_bytes(forecast_line(probability=0.9, model="model-b") + bad)
    with pytest.raises(CommandError) as info:
        call_command("import_forecasts", str(path), "--quiet", stdout=StringIO())
    assert "line 2" in str(info.value)
    assert counts() == before
    run.refresh_from_db()
    assert run.probability == 0.4


@pytest.mark.parametrize(
    "bad",
    [
        question_line(question=["a", "list"]),
        question_line(resolution_date="2024-06-31"),
        question_line(category=None),
        question_line(extra_field="x"),
        b"\x89PNG\r\n\x1a\n",
        b"[" * 100_000 + b"\n",
    ],
    ids=["title-list", "impossible-date", "category-null", "unknown-field", "binary", "deep-nesting"],
)
def test_a_bad_question_file_changes_nothing_that_was_there(tmp_path, imported_question, bad):
    before = counts()
    path = tmp_path / "bad.jsonl"
    path.write_bytes(question_line(question="Changed title?") + bad)
    with pytest.raises(CommandError) as info:
        call_command("import_questions", str(path), "--quiet", stdout=StringIO())
    assert "line 2" in str(info.value)
    assert counts() == before
    imported_question.refresh_from_db()
    assert imported_question.title == "Will the import hold?"
