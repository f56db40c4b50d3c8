import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasts import thresholds
from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round

pytestmark = pytest.mark.django_db


def resolved(category, outcome, **kwargs):
    return QuestionFactory(category=category, status=Question.Status.RESOLVED, outcome=outcome, **kwargs)


def figure(html, name, scope=""):
    """The text of the first <dd data-figure="name"> after `scope` in the page."""
    start = html.index(scope) if scope else 0
    match = re.search(rf'data-figure="{name}">\s*([^<]*?)\s*<', html[start:])
    return match.group(1)


def test_category_page_shows_brier_and_count_of_resolved_questions(client):
    # KNOWN-FAILURES R-18: Q1 resolved YES at 0.8 counts, Q2 unresolved at 0.3 does not.
    category = CategoryFactory(name="Tech", slug="tech")
    q1 = resolved(category, True, title="Will the first thing happen?")
    q2 = QuestionFactory(category=category, title="Will the second thing happen?")
    make_round(q1, [0.8])
    make_round(q2, [0.3])

    response = client.get(reverse("questions:category", kwargs={"slug": "tech"}))

    html = response.content.decode()
    assert response.status_code == 200
    assert figure(html, "brier") == "0.040"
    assert figure(html, "n") == "1"
    assert "building category history" in html.lower()
    assert "Will the second thing happen?" in html
    assert "30%" in html


def test_category_page_says_no_resolved_questions_yet_after_unresolving(client):
    category = CategoryFactory(slug="tech")
    q1 = resolved(category, True)
    make_round(q1, [0.8])
    q1.status, q1.outcome = Question.Status.OPEN, None
    q1.save()

    response = client.get(reverse("questions:category", kwargs={"slug": "tech"}))

    html = response.content.decode()
    assert "no resolved questions yet" in html
    assert "0.00" not in html
    assert "0.040" not in html


def test_category_page_shows_a_calibration_table(client):
    category = CategoryFactory(slug="tech")
    for outcome in (True, False, True):
        make_round(resolved(category, outcome), [0.75])
    make_round(resolved(category, False), [0.15])

    html = client.get(reverse("questions:category", kwargs={"slug": "tech"})).content.decode()

    row = re.search(r"70–80%</th>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>(\d+)</td>", html)
    assert row.groups() == ("75.0%", "66.7%", "3")
    assert re.search(r"10–20%</th>\s*<td>15.0%</td>\s*<td>0.0%</td>\s*<td>1</td>", html)


def test_category_page_drops_the_building_label_once_enough_have_resolved(client):
    category = CategoryFactory(slug="tech")
    for i in range(thresholds.MIN_RESOLVED_FOR_TRACK_RECORD):
        make_round(resolved(category, i % 2 == 0), [0.6 if i % 2 == 0 else 0.4])

    html = client.get(reverse("questions:category", kwargs={"slug": "tech"})).content.decode()

    assert "building category history" not in html.lower()
    assert figure(html, "brier") == "0.160"
    assert "better than always saying 50%" in html


def test_category_page_hides_unpublished_questions(client):
    category = CategoryFactory(slug="tech")
    QuestionFactory(category=category, title="Draft question", status=Question.Status.DRAFT)
    QuestionFactory(
        category=category, title="Future question", published_at=timezone.now() + timedelta(days=1)
    )
    QuestionFactory(category=category, title="Public question")

    html = client.get(reverse("questions:category", kwargs={"slug": "tech"})).content.decode()

    assert "Public question" in html
    assert "Draft question" not in html
    assert "Future question" not in html


def test_category_page_escapes_titles(client):
    category = CategoryFactory(slug="tech", name="<b>Tech</b>")
    QuestionFactory(category=category, title="<script>alert(1)</script>?")

    html = client.get(reverse("questions:category", kwargs={"slug": "tech"})).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;?" in html
    assert "&lt;b&gt;Tech&lt;/b&gt;" in html


def test_unknown_category_is_404(client):
    assert client.get(reverse("questions:category", kwargs={"slug": "nope"})).status_code == 404


def test_category_page_refuses_post(client):
    CategoryFactory(slug="tech")
    assert client.post(reverse("questions:category", kwargs={"slug": "tech"})).status_code == 405


def test_category_page_query_count_does_not_grow_with_questions(client, django_assert_max_num_queries):
    category = CategoryFactory(slug="tech")
    for i in range(30):
        q = resolved(category, i % 3 == 0) if i % 2 else QuestionFactory(category=category)
        make_round(q, [0.3, 0.5, 0.6, 0.7])

    with django_assert_max_num_queries(8):
        response = client.get(reverse("questions:category", kwargs={"slug": "tech"}))
    assert response.status_code == 200


def test_models_page_compares_each_model_with_the_panel_and_fifty_percent(client):
    category = CategoryFactory(name="Sport", slug="sport")
    q = resolved(category, True)
    make_round(q, [0.9, 0.5], names=["Alpha", "Beta"], failed=["Gamma"])

    response = client.get(reverse("forecasts:models"))

    html = response.content.decode()
    assert response.status_code == 200
    assert figure(html, "brier", 'id="panel-record"') == "0.090"  # mean 0.7 on YES
    table = html[html.index('id="model-table"') :]
    alpha = re.search(
        r">Alpha</a></th>\s*<td[^>]*>1</td>\s*<td[^>]*>\s*0.010\s*</td>\s*<td[^>]*>\s*0.090\s*</td>\s*<td[^>]*>0.250</td>",
        table,
    )
    assert alpha
    beta = re.search(r">Beta</a></th>\s*<td[^>]*>1</td>\s*<td[^>]*>\s*0.250\s*</td>", table)
    assert beta
    gamma = re.search(
        r">Gamma</a></th>\s*<td[^>]*>0</td>\s*<td[^>]*>\s*n/a\s*</td>.*?<td[^>]*>0.0%</td>\s*<td[^>]*>100.0%</td>",
        table,
        re.S,
    )
    assert gamma


@pytest.mark.parametrize("questions", [3, 24])
def test_models_page_query_count_does_not_grow_with_data(client, django_assert_max_num_queries, questions):
    categories = [CategoryFactory() for _ in range(4)]
    for i in range(questions):
        q = resolved(categories[i % 4], i % 2 == 0)
        make_round(q, [0.2, 0.6, 0.7], when=timezone.now() - timedelta(days=2), failed=["Model D"])
        make_round(q, [0.3, 0.5, 0.8, 0.4], when=timezone.now() - timedelta(days=1))

    with django_assert_max_num_queries(12):
        response = client.get(reverse("forecasts:models"))
    assert response.status_code == 200


def test_models_page_with_no_data_shows_no_zero_scores(client):
    response = client.get(reverse("forecasts:models"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "No resolved questions yet" in html
    assert "0.000" not in html


def test_models_page_lists_categories_with_their_reading(client):
    small = CategoryFactory(name="Small", slug="small")
    make_round(resolved(small, True), [0.9])
    CategoryFactory(name="Empty", slug="empty")

    html = client.get(reverse("forecasts:models")).content.decode()

    table = html[html.index('id="category-table"') :]
    assert re.search(r">Small</a></th>\s*<td[^>]*>1</td>.*?building category history", table, re.S)
    assert re.search(r">Empty</a></th>\s*<td[^>]*>0</td>.*?no resolved questions yet", table, re.S)


def test_methodology_page_reads_its_thresholds_from_the_code(client, monkeypatch):
    monkeypatch.setattr(thresholds, "MIN_RESOLVED_FOR_TRACK_RECORD", 17)
    monkeypatch.setattr(thresholds, "SHIFTING_MAX_POINTS", 12)
    monkeypatch.setattr(thresholds, "DIFFER_MAX_POINTS", 31)

    html = client.get(reverse("forecasts:methodology")).content.decode()

    assert 'data-threshold="MIN_RESOLVED_FOR_TRACK_RECORD">17<' in html
    assert 'data-threshold="SHIFTING_MAX_POINTS">12<' in html
    assert 'data-threshold="DIFFER_MAX_POINTS">31<' in html
    assert f'data-threshold="STABLE_MAX_POINTS">{thresholds.STABLE_MAX_POINTS}<' in html
    assert f'data-threshold="AGREE_MAX_POINTS">{thresholds.AGREE_MAX_POINTS}<' in html
    assert "Brier score" in html and "Log loss" in html
