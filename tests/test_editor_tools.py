"""The editor's "Re-run forecast now" on the question page, with CSRF protection on."""

import json

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from forecasts.models import Snapshot
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    user = User.objects.create_user("editor", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    return user


def csrf_client(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def answer_all(replay_server, p):
    replay_server.script = {
        m: [{"content": json.dumps({"probability": p, "rationale": "ok"})}]
        for m in ("model-a", "model-b", "model-c", "model-d")
    }


def test_anonymous_readers_get_no_editor_tools(client):
    question = QuestionFactory()
    page = client.get(question.get_absolute_url()).content.decode()
    assert "editor-tools" not in page
    assert client.get(f"/questions/{question.slug}/editor/").status_code == 403
    assert client.post(f"/questions/{question.slug}/run-now/").status_code == 403


def test_the_question_page_loads_editor_tools_lazily_for_editors(editor):
    question = QuestionFactory()
    client = csrf_client(editor)
    page = client.get(question.get_absolute_url()).content.decode()
    assert f'hx-get="/questions/{question.slug}/editor/"' in page
    fragment = client.get(f"/questions/{question.slug}/editor/", HTTP_HX_REQUEST="true").content.decode()
    assert "Re-run forecast now" in fragment
    assert "<html" not in fragment
    assert 'name="csrfmiddlewaretoken"' in fragment


def test_re_run_now_without_the_csrf_token_is_refused(editor, panel, replay_server):
    question = QuestionFactory()
    response = csrf_client(editor).post(f"/questions/{question.slug}/run-now/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert replay_server.calls == []


def test_re_run_now_with_the_token_in_the_htmx_header_runs_a_round(
    editor, panel, replay_server, django_capture_on_commit_callbacks
):
    answer_all(replay_server, 0.37)
    question = QuestionFactory()
    client = csrf_client(editor)
    client.get(question.get_absolute_url())
    token = client.cookies["csrftoken"].value
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/questions/{question.slug}/run-now/", HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
        )
    assert response.status_code == 200
    assert "Queued a new round" in response.content.decode()
    # No broker in the tests: the queued task ran in-process after the commit.
    assert Snapshot.objects.get(question=question).mean == pytest.approx(0.37)


def test_a_closed_question_is_not_re_run(editor, panel, replay_server):
    question = QuestionFactory(status="closed")
    client = csrf_client(editor)
    client.get(f"/questions/{question.slug}/editor/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/questions/{question.slug}/run-now/", HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert "Not queued" in response.content.decode()
    assert replay_server.calls == []


def test_staff_without_the_change_permission_cannot_re_run(panel, replay_server):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    question = QuestionFactory()
    assert csrf_client(user).get(f"/questions/{question.slug}/editor/").status_code == 403
