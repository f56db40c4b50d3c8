"""A question's lifecycle, and what readers, feed readers and programs see at each step."""

from datetime import timedelta

import feedparser
import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from questions import services
from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round

pytestmark = pytest.mark.django_db


def _feed_titles(client, url="/feeds/"):
    parsed = feedparser.parse(client.get(url).content)
    assert parsed.bozo == 0
    return [entry.title for entry in parsed.entries]


def _api(client, path):
    return client.get(f"/api/v1/{path}")


@pytest.fixture
def editor():
    return get_user_model().objects.create_user("editor", password="x", is_staff=True)


def test_publish_opens_a_draft_to_readers_feeds_and_the_api(client):
    draft = QuestionFactory(status=Question.Status.DRAFT, published_at=None, title="Will the draft ship?")
    assert client.get(f"/questions/{draft.slug}/").status_code == 404
    assert _api(client, f"questions/{draft.slug}/").status_code == 404
    assert not any("Will the draft ship?" in t for t in _feed_titles(client))

    services.publish(draft)

    assert client.get(f"/questions/{draft.slug}/").status_code == 200
    assert _api(client, f"questions/{draft.slug}/").json()["status"] == "open"
    assert "New question: Will the draft ship?" in _feed_titles(client)


def test_a_new_round_moves_the_forecast_everywhere(client):
    question = QuestionFactory(title="Will it rain?")
    now = timezone.now()
    make_round(question, [0.5, 0.5, 0.6, 0.4], when=now - timedelta(days=2))
    assert _api(client, f"questions/{question.slug}/").json()["latest"]["mean"] == pytest.approx(0.5)

    make_round(question, [0.6, 0.7, 0.6, 0.6], when=now - timedelta(days=1))

    assert _api(client, f"questions/{question.slug}/").json()["latest"]["mean"] == pytest.approx(0.625)
    assert "63% (+13pt): Will it rain?" in _feed_titles(client)
    assert "63%" in client.get(f"/questions/{question.slug}/").content.decode()


def test_resolve_then_unresolve_changes_feeds_api_and_track_record(client, editor):
    category = CategoryFactory(slug="weather")
    question = QuestionFactory(category=category, title="Will it snow?")
    make_round(question, [0.8, 0.8, 0.8, 0.8], when=timezone.now() - timedelta(days=1))
    services.close(question)

    services.resolve(question, True, user=editor, note="It snowed.")

    detail = _api(client, f"questions/{question.slug}/").json()
    assert (detail["status"], detail["outcome"]) == ("resolved", "yes")
    records = {c["category"]: c for c in _api(client, "track-records/").json()["categories"]}
    assert records["weather"]["n"] == 1
    assert records["weather"]["brier"] == pytest.approx(0.04)
    assert "Resolved YES: Will it snow?" in _feed_titles(client)
    assert "Resolved YES" in client.get(f"/questions/{question.slug}/").content.decode()

    services.unresolve(question)

    detail = _api(client, f"questions/{question.slug}/").json()
    assert (detail["status"], detail["outcome"], detail["resolved_at"]) == ("closed", None, None)
    records = {c["category"]: c for c in _api(client, "track-records/").json()["categories"]}
    assert records["weather"]["n"] == 0
    assert records["weather"]["brier"] is None
    assert not any(t.startswith("Resolved") for t in _feed_titles(client))
    assert "Resolved YES" not in client.get(f"/questions/{question.slug}/").content.decode()


def test_resolve_stamps_the_editor_and_the_time(editor):
    question = QuestionFactory()
    before = timezone.now()

    services.resolve(question, False, user=editor, source="https://example.org/outcome")

    question.refresh_from_db()
    assert question.outcome is False
    assert question.resolved_by == editor
    assert question.resolved_at >= before
    assert question.resolution_source == "https://example.org/outcome"


def test_annulled_questions_leave_the_track_record(client):
    category = CategoryFactory(slug="annulled-cat")
    question = QuestionFactory(category=category)
    make_round(question, [0.9], when=timezone.now() - timedelta(hours=1))
    services.resolve(question, False)
    services.annul(question)

    question.refresh_from_db()
    assert (question.status, question.outcome) == (Question.Status.ANNULLED, None)
    records = {c["category"]: c for c in _api(client, "track-records/").json()["categories"]}
    assert records["annulled-cat"]["n"] == 0


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Question.Status.OPEN, services.publish),
        (Question.Status.DRAFT, services.close),
        (Question.Status.DRAFT, lambda q: services.resolve(q, True)),
        (Question.Status.OPEN, services.unresolve),
        (Question.Status.ANNULLED, lambda q: services.resolve(q, True)),
    ],
)
def test_services_refuse_transitions_the_lifecycle_does_not_allow(status, action):
    question = QuestionFactory(status=status)
    with pytest.raises(services.TransitionError):
        action(question)


def test_resolving_needs_an_outcome():
    with pytest.raises(services.TransitionError):
        services.resolve(QuestionFactory(), None)


@pytest.mark.parametrize(
    "values",
    [
        {"status": "resolved", "outcome": None},
        {"status": "open", "outcome": True},
        {"status": "open", "published_at": None},
        {"status": "open", "resolved_at": "now"},
        {"status": "finished"},
    ],
)
def test_the_database_refuses_rows_outside_the_lifecycle(values):
    question = QuestionFactory()
    values = {k: (timezone.now() if v == "now" else v) for k, v in values.items()}
    with pytest.raises(IntegrityError), transaction.atomic():
        Question.objects.filter(pk=question.pk).update(**values)


def test_bulk_resolve_skips_questions_that_cannot_resolve():
    resolvable = QuestionFactory.create_batch(3)
    QuestionFactory(status=Question.Status.DRAFT, published_at=None)

    count = services.resolve_many(Question.objects.all(), True)

    assert count == 3
    assert set(Question.objects.resolved().values_list("pk", flat=True)) == {q.pk for q in resolvable}
