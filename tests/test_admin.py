"""The editors' admin: lifecycle actions over large selections, read-only history, the panel."""

import re
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from forecasts.models import ModelRun, PanelModel
from questions import services
from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/questions/question/"


@pytest.fixture
def editor_client(client):
    user = get_user_model().objects.create_user("editor", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    client.force_login(user)
    client.user = user
    return client


def _run_action(client, action, ids=None, select_across=False):
    data = {"action": action, "index": 0}
    if select_across:
        # What the "select all N questions" link sends: one flag plus the visible page's ids.
        data["select_across"] = "1"
        data[ACTION_CHECKBOX_NAME] = ids[:1]
    else:
        data[ACTION_CHECKBOX_NAME] = ids
    return client.post(CHANGELIST, data, follow=True)


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_editors_group_has_exactly_the_daily_permissions():
    codenames = set(Group.objects.get(name="Editors").permissions.values_list("codename", flat=True))

    assert codenames == {
        "view_category", "add_category", "change_category", "view_question", "add_question", "change_question",
        "view_panelmodel", "change_panelmodel", "view_round", "view_modelrun", "view_snapshot",
    }  # fmt: skip


def test_changelist_shows_headline_and_spread(editor_client):
    question = QuestionFactory(title="Will the list show 63%?")
    make_round(question, [0.6, 0.7, 0.6, 0.6])

    page = editor_client.get(CHANGELIST).content.decode()

    assert "Will the list show 63%?" in page
    assert "63%" in page and "10pt" in page


def test_select_all_publishes_every_draft_without_one_field_per_row(editor_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    category = CategoryFactory()
    Question.objects.bulk_create(
        Question(title=f"Draft {i}", slug=f"draft-{i}", category=category, status="draft") for i in range(300)
    )
    ids = list(Question.objects.values_list("pk", flat=True))

    response = _run_action(editor_client, "publish_selected", ids, select_across=True)

    assert response.status_code == 200
    assert Question.objects.open().count() == 300
    assert Question.objects.filter(published_at__isnull=True).count() == 0
    assert "Published 300 questions." in _messages(response)


def test_bulk_resolve_reports_what_it_skipped(editor_client):
    open_ids = [q.pk for q in QuestionFactory.create_batch(2)]
    draft = QuestionFactory(status=Question.Status.DRAFT, published_at=None)

    response = _run_action(editor_client, "resolve_no", [*open_ids, draft.pk])

    assert _messages(response) == ["Resolved NO: 2 questions (1 skipped: not in a status that allows it)."]
    resolved = Question.objects.resolved()
    assert set(resolved.values_list("pk", flat=True)) == set(open_ids)
    assert {q.resolved_by_id for q in resolved} == {editor_client.user.pk}


def test_run_now_queues_one_task_per_open_question_after_commit(editor_client):
    open_questions = QuestionFactory.create_batch(3)
    closed = QuestionFactory(status=Question.Status.CLOSED)

    with mock.patch("forecasts.tasks.run_question_now.delay_on_commit") as delay:
        response = _run_action(editor_client, "run_now", [q.pk for q in [*open_questions, closed]])

    assert sorted(call.args[0] for call in delay.call_args_list) == sorted(q.pk for q in open_questions)
    assert (
        "Queued a forecast round for 3 questions (1 skipped: not in a status that allows it)."
        in _messages(response)
    )


def test_form_resolution_goes_through_the_lifecycle_and_stamps_the_editor(editor_client):
    question = QuestionFactory()
    url = reverse("admin:questions_question_change", args=[question.pk])
    form = editor_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        status="resolved", outcome="true", resolution_note="It happened.", category=question.category_id
    )
    data["published_at_0"], data["published_at_1"] = question.published_at.strftime(
        "%Y-%m-%d %H:%M:%S"
    ).split()
    data["resolves_at_0"], data["resolves_at_1"] = question.resolves_at.strftime("%Y-%m-%d %H:%M:%S").split()

    response = editor_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    question.refresh_from_db()
    assert (question.status, question.outcome) == ("resolved", True)
    assert question.resolved_by == editor_client.user
    assert question.resolved_at is not None


def test_form_refuses_a_resolution_without_an_outcome(editor_client):
    question = QuestionFactory()
    url = reverse("admin:questions_question_change", args=[question.pk])
    form = editor_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(status="resolved", outcome="unknown", category=question.category_id)
    data["published_at_0"], data["published_at_1"] = question.published_at.strftime(
        "%Y-%m-%d %H:%M:%S"
    ).split()

    response = editor_client.post(url, data)

    assert response.status_code == 200
    assert "Pick the outcome" in str(response.context["adminform"].form.errors)
    question.refresh_from_db()
    assert question.status == "open"


def _change_form_data(client, question, **changes):
    form = (
        client.get(reverse("admin:questions_question_change", args=[question.pk])).context["adminform"].form
    )
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(category=question.category_id, **changes)
    for name in ("published_at", "resolves_at", "closes_at"):
        moment = getattr(question, name)
        data.pop(name, None)
        if moment is not None:
            data[f"{name}_0"], data[f"{name}_1"] = moment.strftime("%Y-%m-%d %H:%M:%S").split()
    return data


def test_form_unresolves_by_setting_the_status_back_to_closed(editor_client):
    question = QuestionFactory()
    services.resolve(question, True, user=editor_client.user)
    url = reverse("admin:questions_question_change", args=[question.pk])
    # What the fieldset's help text tells editors to do: only the status changes, the outcome still says YES.
    data = _change_form_data(editor_client, question, status="closed")
    assert data["outcome"] is True

    response = editor_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    question.refresh_from_db()
    assert (question.status, question.outcome) == ("closed", None)
    assert (question.resolved_at, question.resolved_by) == (None, None)


def test_form_refuses_resolved_with_unknown_outcome_in_words_not_a_constraint_name(editor_client):
    question = QuestionFactory()
    services.resolve(question, False)
    url = reverse("admin:questions_question_change", args=[question.pk])

    response = editor_client.post(url, _change_form_data(editor_client, question, outcome="unknown"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Pick the outcome" in str(errors["outcome"])
    assert "question_outcome_iff_resolved" not in response.content.decode()
    question.refresh_from_db()
    assert (question.status, question.outcome) == ("resolved", False)


def test_constraint_errors_reach_the_form_in_words(editor_client):
    question = QuestionFactory()
    url = reverse("admin:questions_question_change", args=[question.pk])
    data = _change_form_data(editor_client, question)
    data["closes_at_0"], data["closes_at_1"] = (
        (question.published_at - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S").split()
    )

    response = editor_client.post(url, data)

    assert response.status_code == 200
    assert "closing time must come after" in str(response.context["adminform"].form.errors["closes_at"])
    assert "question_closes_after_published" not in response.content.decode()


def test_delete_confirmation_shows_counts_not_every_row(admin_client):
    question = QuestionFactory()
    start = timezone.now() - timedelta(days=40)
    for day in range(30):
        make_round(question, [0.4, 0.5], when=start + timedelta(days=day))

    page = admin_client.get(reverse("admin:questions_question_delete", args=[question.pk])).content.decode()

    assert "30 snapshots" in page and "60 model runs" in page
    assert page.count(str(question)) < 5


def test_editors_cannot_delete_questions(editor_client):
    question = QuestionFactory()

    response = editor_client.post(
        reverse("admin:questions_question_delete", args=[question.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Question.objects.filter(pk=question.pk).exists()


def test_model_runs_are_read_only_but_show_errors_and_raw_output_to_editors(editor_client):
    question = QuestionFactory()
    make_round(question, [0.5], failed=["Model Z"])
    run = ModelRun.objects.get(model_name="Model Z")
    ModelRun.objects.filter(pk=run.pk).update(raw_output="<raw reply>")

    page = editor_client.get(reverse("admin:forecasts_modelrun_change", args=[run.pk])).content.decode()

    assert "HTTP 500" in page and "&lt;raw reply&gt;" in page
    assert editor_client.get("/admin/forecasts/modelrun/add/").status_code == 403
    assert editor_client.post(reverse("admin:forecasts_modelrun_delete", args=[run.pk])).status_code == 403
    assert editor_client.get("/admin/forecasts/snapshot/").status_code == 200
    assert editor_client.get("/admin/forecasts/round/").status_code == 200


def test_question_page_in_admin_shows_only_the_latest_rounds(editor_client):
    question = QuestionFactory()
    start = timezone.now() - timedelta(days=40)
    for day in range(30):
        make_round(question, [0.4, 0.5], when=start + timedelta(days=day))

    page = editor_client.get(reverse("admin:questions_question_change", args=[question.pk])).content.decode()

    assert len(re.findall(r"forecasts/modelrun/\d+/change/", page)) == 20
    assert page.count("<td>40–50%</td>") == 5  # the min–max column of the snapshot table


def test_panel_admin_shows_the_key_variable_name_never_its_value(editor_client, monkeypatch):
    monkeypatch.setenv("PANEL_TEST_API_KEY", "sk-very-secret-value")
    seat = PanelModel.objects.create(name="Seat", model="m", api_key_env="PANEL_TEST_API_KEY")
    question = QuestionFactory()
    make_round(question, [0.5], names=["Seat"], failed=["Seat 2"])
    ModelRun.objects.filter(model_name="Seat").update(panel_model=seat, cost_usd=Decimal("0.125"))
    ModelRun.objects.filter(model_name="Seat 2").update(panel_model=seat, cost_usd=Decimal("0.5"))

    change = editor_client.get(reverse("admin:forecasts_panelmodel_change", args=[seat.pk])).content.decode()
    listing = editor_client.get("/admin/forecasts/panelmodel/").content.decode()

    for page in (change, listing):
        assert "sk-very-secret-value" not in page
    # The name only: whether it is set on the server is for administrators.
    assert "PANEL_TEST_API_KEY" in change and "(set)" not in change
    assert "50% of 2" in change and "HTTP 500" in change
    assert "$0.6250" in change and "$0.6250" in listing


@pytest.mark.parametrize(
    ("changelist", "parameter"),
    [
        ("/admin/forecasts/round/", "label"),
        ("/admin/forecasts/snapshot/", "round__label"),
        ("/admin/forecasts/modelrun/", "round__label"),
    ],
)
def test_history_lists_show_and_filter_by_the_round_label(editor_client, changelist, parameter):
    question = QuestionFactory()
    seeded, _ = make_round(question, [0.3, 0.4], when=timezone.now() - timedelta(days=2))
    seeded.label = "sample history"
    seeded.save(update_fields=["label"])
    live, _ = make_round(question, [0.6, 0.7])

    everything = editor_client.get(changelist)
    filtered = editor_client.get(changelist, {parameter: "sample history"})

    assert "sample history" in everything.content.decode()
    assert "round label" in everything.content.decode()
    shown = filtered.context["cl"].result_list
    round_ids = {row.pk if changelist.endswith("round/") else row.round_id for row in shown}
    assert round_ids == {seeded.pk}
    assert live.pk not in round_ids


def test_question_page_in_admin_shows_each_rounds_label(editor_client):
    question = QuestionFactory()
    imported, _ = make_round(question, [0.2, 0.3], when=timezone.now() - timedelta(days=1))
    imported.label = "imported forecasts"
    imported.save(update_fields=["label"])

    page = editor_client.get(reverse("admin:questions_question_change", args=[question.pk])).content.decode()

    snapshots_table = page.split("Latest 5 snapshots")[1].split("model runs")[0]
    assert "round label" in snapshots_table
    assert "imported forecasts" in snapshots_table


def test_deleting_a_question_does_not_load_its_history_row_by_row():
    """Model runs and snapshots go in one statement each, however many there are."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from forecasts.models import ModelRun, Snapshot
    from tests.factories import QuestionFactory, make_round

    def delete_cost(rounds):
        question = QuestionFactory()
        start = timezone.now() - timedelta(days=rounds)
        for day in range(rounds):
            make_round(question, [0.4, 0.5, 0.6], when=start + timedelta(days=day))
        with CaptureQueriesContext(connection) as queries:
            question.delete()
        return len(queries)

    small, large = delete_cost(3), delete_cost(60)
    assert large == small
    assert ModelRun.objects.count() == 0 and Snapshot.objects.count() == 0
