"""An editor clicks "Re-run forecast now" inside a lazily loaded fragment (KNOWN-FAILURES R-14)."""

import json

import pytest
from django.contrib.auth.models import Group, User

from forecasts.models import Snapshot
from tests.factories import QuestionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_editor_re_runs_a_forecast_from_the_question_page(browser_page, panel, replay_server):
    replay_server.script = {
        m: [{"content": json.dumps({"probability": 0.41, "rationale": "Clicked."})}]
        for m in ("model-a", "model-b", "model-c", "model-d")
    }
    user = User.objects.create_user("editor", password="a-long-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    question = QuestionFactory()
    page = browser_page

    page.goto("/admin/login/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")

    page.goto(question.get_absolute_url())
    button = page.get_by_role("button", name="Re-run forecast now")
    button.click()
    page.get_by_text("Queued a new round").wait_for()
    assert Snapshot.objects.get(question=question).mean == pytest.approx(0.41)
    assert page.console.errors == []
