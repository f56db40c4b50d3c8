"""What an editor may do to the panel's endpoints and queue, and what a seat's key variable may name."""

import importlib
import logging
import time
from unittest import mock

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from forecasts import providers, services
from forecasts.models import PanelModel
from questions import admin as questions_admin
from questions.models import Question
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db

DATABASE_SECRET = "postgres://owner:hunter2-db-password@db.internal:5432/forecastsite"
SEAT_KEY = "zq9Xv7TwLm3Kp2Rs8Nb4Hc6Yd1"


@pytest.fixture
def editor_client(client):
    user = get_user_model().objects.create_user("editor", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def _change_url(seat):
    return reverse("admin:forecasts_panelmodel_change", args=[seat.pk])


def _form_data(seat, **changes):
    data = {
        "name": seat.name,
        "model": seat.model,
        "position": seat.position,
        "is_active": "on" if seat.is_active else "",
        "base_url": seat.base_url,
        "api_key_env": seat.api_key_env,
        "output_mode": seat.output_mode,
        "timeout_seconds": "",
        "max_tokens": seat.max_tokens,
        "temperature": "",
        "price_in_per_million": seat.price_in_per_million,
        "price_out_per_million": seat.price_out_per_million,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


# --- who may point a seat elsewhere -------------------------------------------------


def test_an_editor_cannot_change_a_seats_base_url_or_key_variable(editor_client):
    seat = PanelModel.objects.create(
        name="Seat", model="m", base_url="https://api.example.com/v1", api_key_env="SEAT_API_KEY"
    )

    response = editor_client.post(
        _change_url(seat),
        _form_data(seat, base_url="https://attacker.example/v1", api_key_env="DATABASE_URL", max_tokens=900),
    )

    assert response.status_code == 302
    seat.refresh_from_db()
    assert seat.base_url == "https://api.example.com/v1"
    assert seat.api_key_env == "SEAT_API_KEY"
    # The rest of the form still saves: editors keep their daily work.
    assert seat.max_tokens == 900


def test_an_editor_sees_the_endpoint_read_only_and_never_whether_a_key_is_set(editor_client, monkeypatch):
    monkeypatch.setenv("SEAT_API_KEY", "sk-editor-must-not-learn-this")
    seat = PanelModel.objects.create(name="Seat", model="m", api_key_env="SEAT_API_KEY")

    response = editor_client.get(_change_url(seat))
    page = response.content.decode()

    form = response.context["adminform"].form
    assert "base_url" not in form.fields and "api_key_env" not in form.fields
    assert "SEAT_API_KEY" in page
    assert "(set)" not in page and "not set on this server" not in page
    assert "sk-editor-must-not-learn-this" not in page


def test_an_administrator_edits_the_endpoint_and_sees_whether_the_key_is_set(admin_client_, monkeypatch):
    monkeypatch.setenv("OTHER_API_KEY", "sk-value-stays-on-the-server")
    seat = PanelModel.objects.create(name="Seat", model="m")

    response = admin_client_.post(
        _change_url(seat), _form_data(seat, base_url="https://other.example/v1", api_key_env="OTHER_API_KEY")
    )

    assert response.status_code == 302
    seat.refresh_from_db()
    assert (seat.base_url, seat.api_key_env) == ("https://other.example/v1", "OTHER_API_KEY")
    page = admin_client_.get(_change_url(seat)).content.decode()
    assert "OTHER_API_KEY (set)" in page
    assert "sk-value-stays-on-the-server" not in page


@pytest.mark.parametrize("name", ["DATABASE_URL", "SECRET_KEY", "openai_api_key", "MY API_KEY", "_API_KEY"])
def test_even_an_administrator_cannot_name_a_variable_outside_the_api_key_names(admin_client_, name):
    seat = PanelModel.objects.create(name="Seat", model="m")

    response = admin_client_.post(_change_url(seat), _form_data(seat, api_key_env=name))

    assert response.status_code == 200
    assert "api_key_env" in response.context["adminform"].form.errors
    seat.refresh_from_db()
    assert seat.api_key_env == ""


# --- the database and the worker refuse other names too ------------------------


@pytest.mark.parametrize(
    "name", ["DATABASE_URL", "SECRET_KEY", "openai_api_key", "OPENAI_API_KEY\n", "1_API_KEY"]
)
def test_the_database_refuses_a_key_variable_outside_the_api_key_names(name):
    with pytest.raises(IntegrityError), transaction.atomic():
        PanelModel.objects.create(name="Seat", model="m", api_key_env=name)
    seat = PanelModel.objects.create(name="Seat", model="m")
    with pytest.raises(IntegrityError), transaction.atomic():
        PanelModel.objects.filter(pk=seat.pk).update(api_key_env=name)


@pytest.mark.parametrize("name", ["", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "SEAT_2_API_KEY"])
def test_the_database_accepts_empty_and_api_key_names(name):
    seat = PanelModel.objects.create(name="Seat", model="m", api_key_env=name)
    seat.full_clean()


def test_model_validation_names_the_rule():
    with pytest.raises(ValidationError, match="_API_KEY"):
        PanelModel(name="Seat", model="m", api_key_env="DATABASE_URL").full_clean()


def _ask(seat):
    messages = providers.build_messages(QuestionFactory.build(resolves_at=None), today=timezone.now())
    return providers.ask(seat, messages, deadline=time.monotonic() + 10)


def test_a_seat_naming_database_url_never_sends_the_database_url(replay_server, monkeypatch, caplog):
    monkeypatch.setenv("DATABASE_URL", DATABASE_SECRET)
    replay_server.script = {"model-x": [{"content": '{"probability": 0.5, "rationale": "r"}'}]}
    # A seat as the worker would build it from a row written around the constraint.
    seat = providers.Seat(
        name="Rogue", model="model-x", base_url=replay_server.base_url, api_key_env="DATABASE_URL"
    )

    with caplog.at_level(logging.ERROR, logger="forecasts.providers"):
        _ask(seat)

    assert replay_server.authorizations, "the replay server was never called"
    for _model, header in replay_server.authorizations:
        assert "hunter2" not in header and DATABASE_SECRET not in header
    assert any("outside the allowed names" in r.getMessage() for r in caplog.records)


def test_a_seat_with_an_api_key_variable_sends_that_key_in_the_header(panel, replay_server, monkeypatch):
    monkeypatch.setenv("SEAT_A_API_KEY", SEAT_KEY)
    panel[0].api_key_env = "SEAT_A_API_KEY"
    panel[0].save()
    answer = {"content": '{"probability": 0.5, "rationale": "r"}'}
    replay_server.script = {f"model-{c}": [answer] for c in "abcd"}

    services.run_round(services.create_manual_round(QuestionFactory()).pk)

    sent = dict(replay_server.authorizations)
    assert sent["model-a"] == f"Bearer {SEAT_KEY}"
    assert SEAT_KEY not in sent["model-b"]


def test_the_migration_renames_a_disallowed_variable_and_switches_the_seat_off():
    migration = importlib.import_module("forecasts.migrations.0003_panelmodel_api_key_env_allowed")

    assert migration.allowed_name("SEAT_A_KEY") == "SEAT_A_API_KEY"
    assert migration.allowed_name("DATABASE_URL") == "DATABASE_URL_API_KEY"
    assert migration.allowed_name("secret-key") == "SECRET_API_KEY"
    assert migration.allowed_name("1password") == "SEAT_1PASSWORD_API_KEY"
    for name in ("SEAT_A_KEY", "DATABASE_URL", "secret-key", "1password", "x" * 100):
        assert PanelModel.is_allowed_key_env(migration.allowed_name(name))
        assert len(migration.allowed_name(name)) <= 100


# --- "Run a forecast now" over a large selection --------------------------------


def test_run_now_over_a_large_selection_queues_at_most_the_limit_and_says_so(editor_client, monkeypatch):
    monkeypatch.setattr(questions_admin, "RUN_NOW_LIMIT", 3)
    open_questions = QuestionFactory.create_batch(5)
    closed = QuestionFactory(status=Question.Status.CLOSED)
    draft = QuestionFactory(status=Question.Status.DRAFT, published_at=None)
    ids = [q.pk for q in [*open_questions, closed, draft]]

    with mock.patch("forecasts.tasks.run_question_now.delay_on_commit") as delay:
        response = editor_client.post(
            "/admin/questions/question/",
            {"action": "run_now", "index": 0, "select_across": "1", ACTION_CHECKBOX_NAME: ids[:1]},
            follow=True,
        )

    queued = [call.args[0] for call in delay.call_args_list]
    assert len(queued) == 3
    assert set(queued) <= {q.pk for q in open_questions}
    messages = [str(m) for m in response.context["messages"]]
    assert "Queued a forecast round for 3 questions (2 skipped: not in a status that allows it)." in messages
    assert any(m.startswith("2 more open questions were not queued: at most 3 per click") for m in messages)


def test_run_now_again_moves_on_to_the_questions_not_yet_forecast(editor_client, monkeypatch):
    from tests.factories import make_round

    monkeypatch.setattr(questions_admin, "RUN_NOW_LIMIT", 2)
    forecast_before = QuestionFactory.create_batch(2)
    for question in forecast_before:
        make_round(question, [0.5])
    never_forecast = QuestionFactory.create_batch(2)

    with mock.patch("forecasts.tasks.run_question_now.delay_on_commit") as delay:
        editor_client.post(
            "/admin/questions/question/",
            {
                "action": "run_now",
                "index": 0,
                ACTION_CHECKBOX_NAME: [q.pk for q in forecast_before + never_forecast],
            },
        )

    assert sorted(call.args[0] for call in delay.call_args_list) == sorted(q.pk for q in never_forecast)
