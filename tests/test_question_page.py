import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasts.models import ModelRun, PanelModel
from questions.models import Question
from tests.factories import CategoryFactory, PanelModelFactory, QuestionFactory, make_round

pytestmark = pytest.mark.django_db

SEED_SENTENCE = (
    "The three supporting readings tell you how much weight to put on the probability: confidence reflects "
    "category-level track record, stability tracks how the estimate has moved over time, models shows whether "
    "the four agree."
)


def _get(client, name, question, query="", **headers):
    return client.get(reverse(f"questions:{name}", kwargs={"slug": question.slug}) + query, **headers)


def _resolve(question, outcome, when=None):
    question.status = Question.Status.RESOLVED
    question.outcome = outcome
    question.resolved_at = when or timezone.now()
    question.save()


def test_it_shows_the_four_model_average_as_a_whole_percentage(client):
    question = QuestionFactory()
    make_round(question, [0.60, 0.70, 0.55, 0.68])  # mean 0.6325

    response = _get(client, "detail", question)

    assert response.status_code == 200
    assert "4-model average" in response.text
    assert "63%" in response.text
    assert "all 4 models" in response.text


def test_a_failed_model_leaves_a_three_model_average_and_an_api_error_card(client):
    question = QuestionFactory()
    make_round(question, [0.62, 0.55, 0.71], failed=["Model D"])

    response = _get(client, "detail", question)

    assert "3-model average" in response.text
    assert "63%" in response.text
    assert "3 of 4 models" in response.text
    assert "16pt spread" in response.text
    assert "API error" in response.text
    # The error's details are for editors only.
    assert "HTTP 500" not in response.text


def test_a_failed_model_card_says_when_it_last_answered(client):
    question = QuestionFactory()
    earlier = timezone.now() - timedelta(days=2)
    make_round(question, [0.5, 0.5, 0.5, 0.4], when=earlier)
    make_round(question, [0.62, 0.55, 0.71], failed=["Model D"])

    response = _get(client, "detail", question)

    assert "Last answered successfully" in response.text
    assert earlier.strftime("%-d %b %Y") in response.text


def test_it_shows_the_spread_in_points_with_a_label_and_the_outlier(client):
    question = QuestionFactory()
    make_round(question, [0.55, 0.60, 0.68, 0.62])

    text = _get(client, "detail", question).text

    assert "13pt spread" in text
    assert "differ" in text
    assert "outlier: Model C" in text


def test_it_escapes_model_and_editor_text(client):
    question = QuestionFactory(title="<script>alert('title')</script> Will it happen?")
    rnd, _ = make_round(question, [0.5, 0.6])
    ModelRun.objects.filter(round=rnd, model_name="Model A").update(
        rationale="<script>alert('model')</script>\n\nSecond paragraph."
    )

    text = _get(client, "detail", question).text

    assert "<script>alert(" not in text
    assert "&lt;script&gt;alert(&#x27;model&#x27;)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in text
    assert "<p>Second paragraph.</p>" in text


def test_cards_follow_the_panel_order_then_other_models_by_name(client):
    PanelModel.objects.all().delete()
    PanelModelFactory(name="Zeta", position=0)
    PanelModelFactory(name="Alpha", position=1)
    question = QuestionFactory()
    make_round(question, [0.3, 0.4, 0.5], names=["Alpha", "Imported Oracle", "Zeta"])

    text = _get(client, "detail", question).text

    cards = text[text.index('id="models"') :]
    assert cards.index("Zeta") < cards.index("Alpha") < cards.index("Imported Oracle")


def test_earlier_rounds_can_be_shown(client):
    question = QuestionFactory()
    old_round, _ = make_round(question, [0.21, 0.22], when=timezone.now() - timedelta(days=3))
    make_round(question, [0.8, 0.9])

    latest = _get(client, "detail", question).text
    earlier = _get(client, "detail", question, f"?round={old_round.pk}").text

    assert f"?round={old_round.pk}" in latest
    assert "21%" not in latest.split('id="models"')[1].split("Earlier rounds")[0]
    assert "21%" in earlier and "Earlier round" in earlier


def test_a_resolved_question_shows_its_outcome_final_forecast_and_brier_score(client):
    question = QuestionFactory()
    make_round(question, [0.8, 0.8])
    _resolve(question, True)

    text = _get(client, "detail", question).text

    assert "Resolved YES" in text
    assert "Outcome: <strong>YES</strong>" in text
    assert "Final forecast 80%" in text
    assert "0.040" in text


def test_the_seed_sentence_sits_under_the_readings(client):
    question = QuestionFactory()
    make_round(question, [0.5, 0.6])

    assert SEED_SENTENCE in _get(client, "detail", question).text


def test_the_page_loads_its_costly_parts_lazily(client):
    question = QuestionFactory()
    make_round(question, [0.5, 0.6])

    text = _get(client, "detail", question).text

    assert "Loading belief trajectory..." in text
    assert ">loading<" in text
    assert f'hx-get="{reverse("questions:trajectory", kwargs={"slug": question.slug})}"' in text
    assert f'hx-get="{reverse("questions:track-record", kwargs={"slug": question.slug})}"' in text


@pytest.mark.parametrize("name", ["detail", "trajectory", "track-record"])
def test_responses_vary_on_hx_request(client, name):
    question = QuestionFactory()
    make_round(question, [0.5, 0.6])

    response = _get(client, name, question)

    assert "HX-Request" in response["Vary"]


def test_the_trajectory_fragment_for_htmx_is_not_a_page(client):
    question = QuestionFactory()
    make_round(question, [0.5, 0.6])

    response = _get(client, "trajectory", question, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "<html" not in response.text
    assert "data-trajectory-url" in response.text
    assert "<table>" in response.text


def test_the_trajectory_url_without_htmx_is_the_whole_page_with_the_table(client):
    question = QuestionFactory()
    make_round(question, [0.5, 0.6])

    text = _get(client, "trajectory", question).text

    assert "<html" in text
    assert "2-model average" in text
    assert "<table>" in text
    assert "Loading belief trajectory..." not in text


def test_the_track_record_fragment_says_the_category_history_is_building(client):
    question = QuestionFactory()
    make_round(question, [0.5, 0.6])

    response = _get(client, "track-record", question, HTTP_HX_REQUEST="true")

    assert "<html" not in response.text
    assert "building category history" in response.text
    assert "no resolved questions yet" in response.text


def test_the_track_record_shows_the_brier_score_once_enough_questions_resolved(client):
    category = CategoryFactory()
    for _ in range(10):
        resolved = QuestionFactory(category=category)
        make_round(resolved, [0.7, 0.7])
        _resolve(resolved, True)
    question = QuestionFactory(category=category)
    make_round(question, [0.5, 0.6])

    text = _get(client, "track-record", question).text

    assert "<html" in text
    assert "Brier 0.090 on 10 resolved questions" in text
    assert "better than chance" in text
    assert "building category history" not in text


def test_drafts_and_future_questions_are_not_found(client):
    draft = QuestionFactory(status=Question.Status.DRAFT)
    future = QuestionFactory(published_at=timezone.now() + timedelta(days=1))

    assert _get(client, "detail", draft).status_code == 404
    assert _get(client, "detail", future).status_code == 404
    assert _get(client, "trajectory-json", draft).status_code == 404


def _history(question, rounds, failed_every=3):
    start = timezone.now() - timedelta(days=rounds)
    for i in range(rounds):
        failed = ["Model D"] if i % failed_every == 0 else []
        probabilities = [0.4 + i % 5 / 100, 0.5, 0.6] + ([] if failed else [0.55])
        make_round(question, probabilities, when=start + timedelta(days=i), failed=failed)


@pytest.mark.parametrize("rounds", [3, 40])
def test_the_question_page_needs_a_bounded_number_of_queries(client, django_assert_max_num_queries, rounds):
    question = QuestionFactory()
    _history(question, rounds)

    with django_assert_max_num_queries(10):
        assert _get(client, "detail", question).status_code == 200


@pytest.mark.parametrize("rounds", [3, 40])
def test_the_full_page_fragments_need_a_bounded_number_of_queries(
    client, django_assert_max_num_queries, rounds
):
    question = QuestionFactory()
    _history(question, rounds)

    with django_assert_max_num_queries(14):
        assert _get(client, "trajectory", question).status_code == 200
    with django_assert_max_num_queries(14):
        assert _get(client, "track-record", question).status_code == 200


def _readings(text):
    return text[text.index('class="readings"') : text.index('class="trajectory"')]


def test_a_single_answer_is_described_as_one_model_with_no_agreement_label(client):
    question = QuestionFactory()
    make_round(question, [0.42], failed=["Model B", "Model C", "Model D"], names=["Model A"])

    text = _get(client, "detail", question).text

    assert "the one model that answered (of 4 asked)" in text
    assert "all 1 models" not in text and "1 of 4 models" not in text
    models_reading = _readings(text).split("<dt>models</dt>")[1].split("</dd>")[0]
    assert "one model answered" in models_reading
    assert "reading-label" not in models_reading and "pt spread" not in models_reading


def test_a_round_where_only_one_model_was_asked_is_not_all_1_models(client):
    question = QuestionFactory()
    make_round(question, [0.42], names=["Model A"])

    text = _get(client, "detail", question).text

    assert "the one model that answered in the round" in " ".join(text.split())
    assert "all 1 models" not in text


def test_stability_counts_a_jump_from_the_value_before_the_window(client):
    question = QuestionFactory()
    now = timezone.now()
    make_round(question, [0.04, 0.04], when=now - timedelta(days=12))
    make_round(question, [0.50, 0.50], when=now)

    stability_reading = _readings(_get(client, "detail", question).text).split("<dt>stability</dt>")[1]

    assert "volatile" in stability_reading
    assert "moved 46pt over 7 days" in stability_reading
    assert "from 4% to 50%" in stability_reading


def test_a_building_track_record_counts_what_has_resolved_so_far(client):
    category = CategoryFactory()
    resolved = QuestionFactory(category=category)
    make_round(resolved, [0.7, 0.7])
    _resolve(resolved, True)
    question = QuestionFactory(category=category)
    make_round(question, [0.5, 0.6])

    text = " ".join(_get(client, "track-record", question, HTTP_HX_REQUEST="true").text.split())

    assert "1 resolved question so far; the record is shown from 10" in text
    assert "needed" not in text


def test_earlier_rounds_list_only_the_rounds_before_the_latest(client):
    question = QuestionFactory()
    now = timezone.now()
    older, _ = make_round(question, [0.21, 0.22], when=now - timedelta(days=2))
    middle, _ = make_round(question, [0.31, 0.32], when=now - timedelta(days=1))
    latest, _ = make_round(question, [0.8, 0.9], when=now)

    text = _get(client, "detail", question).text
    listed = text[text.index("<summary>Earlier rounds</summary>") :].split("</details>")[0]

    assert f"?round={older.pk}" in listed and f"?round={middle.pk}" in listed
    assert f"?round={latest.pk}" not in listed


def test_an_earlier_round_shown_at_the_top_is_marked_in_the_list(client):
    question = QuestionFactory()
    older, _ = make_round(question, [0.21, 0.22], when=timezone.now() - timedelta(days=2))
    make_round(question, [0.8, 0.9])

    text = _get(client, "detail", question, f"?round={older.pk}").text
    listed = text[text.index("<summary>Earlier rounds</summary>") :].split("</details>")[0]

    assert f'?round={older.pk}#models" aria-current="true"' in listed
    assert "(shown above)" in listed


def test_the_question_feed_is_announced_once(client):
    question = QuestionFactory()
    make_round(question, [0.5, 0.6])
    feed_url = reverse("feeds:question", kwargs={"slug": question.slug})

    head = _get(client, "detail", question).text.split("</head>")[0]

    assert head.count(f'href="{feed_url}"') == 1
    assert head.count('rel="alternate"') == len(set(re.findall(r'rel="alternate"[^>]*href="([^"]+)"', head)))
