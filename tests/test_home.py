from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round

pytestmark = pytest.mark.django_db

HOME = reverse("questions:home")


def test_it_lists_questions_with_headline_spread_and_latest_move(client):
    question = QuestionFactory(title="Will the bridge open?")
    make_round(question, [0.5, 0.6, 0.55, 0.55], when=timezone.now() - timedelta(days=1))
    make_round(question, [0.55, 0.68, 0.6, 0.62])  # mean 0.6125, spread 13pt, up 6.25 points

    text = client.get(HOME).text

    assert "Will the bridge open?" in text
    assert "61%" in text and "4-model average" in text
    assert "13pt spread" in text
    assert "+6pt since the previous round" in text


def test_it_hides_drafts(client):
    QuestionFactory(title="A draft question", status=Question.Status.DRAFT)

    assert "A draft question" not in client.get(HOME).text


def test_open_questions_come_before_resolved_ones(client):
    resolved = QuestionFactory(title="Resolved one")
    resolved.status, resolved.outcome, resolved.resolved_at = Question.Status.RESOLVED, True, timezone.now()
    resolved.save()
    QuestionFactory(title="Open one")

    text = client.get(HOME).text

    assert text.index("Open one") < text.index("Resolved one")
    assert "Resolved YES" in text


def test_it_filters_by_category(client):
    science = CategoryFactory(name="Science", slug="science")
    QuestionFactory(title="Will a comet be seen?", category=science)
    QuestionFactory(title="Will the market rise?")

    text = client.get(HOME, {"category": "science"}).text

    assert "Will a comet be seen?" in text
    assert "Will the market rise?" not in text


def test_it_pages_with_real_links_and_htmx(client):
    category = CategoryFactory()
    for i in range(25):
        QuestionFactory(title=f"Paged question {i:02d}", category=category)

    first = client.get(HOME)
    second = client.get(HOME, {"page": 2}, HTTP_HX_REQUEST="true")

    assert 'href="?page=2"' in first.text and 'hx-get="?page=2"' in first.text and "hx-push-url" in first.text
    assert first.text.count('class="question-item"') == 20
    assert second.text.count('class="question-item"') == 5
    assert "<html" not in second.text
    assert "HX-Request" in second["Vary"]


def test_paging_keeps_the_category_filter(client):
    category = CategoryFactory(slug="science")
    for _ in range(25):
        QuestionFactory(category=category)

    text = client.get(HOME, {"category": "science"}).text

    assert "?category=science&amp;page=2" in text


@pytest.mark.parametrize("count", [2, 30])
def test_it_needs_a_bounded_number_of_queries(client, django_assert_max_num_queries, count):
    for i in range(count):
        question = QuestionFactory(category=CategoryFactory(slug=f"c{i % 3}"))
        make_round(question, [0.4, 0.5], when=timezone.now() - timedelta(days=1))
        make_round(question, [0.5, 0.6], failed=["Model C"])

    with django_assert_max_num_queries(4):
        assert client.get(HOME).status_code == 200
