"""RSS 2.0 and Atom feeds, read back with a real feed parser."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from django.utils import timezone

from forecasts import thresholds
from questions import services
from questions.feeds import as_utc
from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round

pytestmark = pytest.mark.django_db

FEED_URLS = [
    "/feeds/",
    "/feeds/atom/",
    "/feeds/movers/?min_move=5",
    "/feeds/movers/atom/",
    "/feeds/categories/space/",
    "/feeds/categories/space/atom/",
    "/feeds/questions/mars-landing/",
    "/feeds/questions/mars-landing/atom/",
]


@pytest.fixture
def history():
    """A question that opened at 40%, jumped to 63% and then barely moved; and one that resolved."""
    category = CategoryFactory(slug="space", name="Space")
    question = QuestionFactory(
        category=category, slug="mars-landing", title="Will a crew land on Mars by 2040?"
    )
    start = timezone.now() - timedelta(days=10)
    make_round(question, [0.4, 0.4, 0.4, 0.4], when=start)
    make_round(question, [0.6, 0.7, 0.6, 0.6], when=start + timedelta(days=1))
    make_round(question, [0.6, 0.7, 0.6, 0.65], when=start + timedelta(days=2))
    resolved = QuestionFactory(category=category, title="Will the probe launch in March?")
    make_round(resolved, [0.9, 0.8], when=start)
    services.resolve(resolved, True, note="It launched.")
    return question, resolved


def _parse(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
    return parsed


@pytest.mark.parametrize("url", FEED_URLS)
def test_every_feed_is_well_formed_with_stable_guids(client, history, url):
    first = _parse(client, url)
    second = _parse(client, url)

    assert first.entries
    assert [e.id for e in first.entries] == [e.id for e in second.entries]
    assert all(e.id.startswith("http://") or e.id.startswith("https://") for e in first.entries)


def test_a_move_reads_as_the_new_average_and_the_change(client, history):
    titles = [e.title for e in _parse(client, "/feeds/").entries]

    assert "63% (+23pt): Will a crew land on Mars by 2040?" in titles
    # The last round moved 1 point: below the default threshold.
    assert not any(t.startswith("64%") for t in titles)


def test_items_announce_new_questions_and_resolutions(client, history):
    titles = [e.title for e in _parse(client, "/feeds/").entries]

    assert "New question, 64%: Will a crew land on Mars by 2040?" in titles
    assert "Resolved YES: Will the probe launch in March?" in titles


def test_items_are_newest_first(client, history):
    dates = [e.published_parsed for e in _parse(client, "/feeds/").entries]

    assert dates == sorted(dates, reverse=True)


def test_movers_feed_takes_its_threshold_from_the_url(client, history):
    low = [e.title for e in _parse(client, "/feeds/movers/?min_move=1").entries]
    high = [e.title for e in _parse(client, "/feeds/movers/?min_move=30").entries]

    assert len(low) == 2 and low[0].startswith("64% (+1pt)")
    assert high == []


@pytest.mark.parametrize("value", ["abc", "0", "101", "nan", "inf", "-5", "1e999"])
def test_movers_feed_refuses_a_bad_threshold(client, value):
    response = client.get(f"/feeds/movers/?min_move={value}")

    assert response.status_code == 400
    assert b"min_move" in response.content


def test_the_default_threshold_comes_from_the_thresholds_module(client, history, monkeypatch):
    monkeypatch.setattr(thresholds, "FEED_DEFAULT_MOVE_POINTS", 1)

    titles = [e.title for e in _parse(client, "/feeds/movers/").entries]

    assert any(t.startswith("64% (+1pt)") for t in titles)


def test_description_has_headline_readings_and_each_models_probability(client, history):
    entry = next(e for e in _parse(client, "/feeds/movers/").entries)
    text = entry.summary

    assert "63%" in text and "4-model average" in text
    assert "confidence: building category history" in text
    assert "stability:" in text
    assert "models: 10pt spread" in text
    assert "Model B: 70%" in text


def test_model_text_is_escaped_in_descriptions(client):
    question = QuestionFactory(slug="escape-me")
    make_round(question, [0.2], when=timezone.now() - timedelta(days=2))
    _, snapshot = make_round(question, [0.9], when=timezone.now() - timedelta(days=1))
    snapshot.round.model_runs.update(rationale='<script>alert("x")</script>', model_name="<b>Evil</b>")

    xml = client.get("/feeds/questions/escape-me/").content
    descriptions = [item.findtext("description") for item in ET.fromstring(xml).iter("item")]

    html = next(d for d in descriptions if "Evil" in d)
    assert "<script>" not in html and "<b>Evil" not in html
    assert "&lt;script&gt;" in html


def test_dates_carry_a_zone_whatever_the_server_time_zone(client, history, settings):
    settings.TIME_ZONE = "America/New_York"

    rss = client.get("/feeds/").content
    dates = [item.findtext("pubDate") for item in ET.fromstring(rss).iter("item")]

    assert dates and all(d.endswith("+0000") for d in dates)


def test_a_naive_datetime_is_read_as_utc():
    moment = as_utc(datetime(2025, 3, 30, 0, 30))

    assert moment.tzinfo is not None
    assert moment == datetime(2025, 3, 30, 0, 30, tzinfo=UTC)


def test_drafts_never_reach_a_feed(client, history):
    QuestionFactory(status=Question.Status.DRAFT, published_at=None, slug="secret", title="Secret draft?")

    titles = [e.title for e in _parse(client, "/feeds/").entries]

    assert not any("Secret draft" in t for t in titles)
    assert client.get("/feeds/questions/secret/").status_code == 404


def test_unknown_category_is_not_found(client):
    assert client.get("/feeds/categories/nope/").status_code == 404


def test_feed_queries_do_not_grow_with_the_number_of_questions(client, django_assert_max_num_queries):
    category = CategoryFactory(slug="many")
    start = timezone.now() - timedelta(days=5)
    for i in range(60):
        question = QuestionFactory(category=category)
        make_round(question, [0.3], when=start + timedelta(minutes=i))
        make_round(question, [0.5], when=start + timedelta(days=1, minutes=i))

    # 30 items with their readings: a fixed ceiling, however many questions exist.
    with django_assert_max_num_queries(15):
        parsed = _parse(client, "/feeds/categories/many/")

    assert len(parsed.entries) == 30


def test_pages_announce_their_feeds(client, history):
    page = client.get("/questions/mars-landing/").content.decode()

    assert 'rel="alternate" type="application/rss+xml"' in page
    assert "/feeds/questions/mars-landing/" in page
    assert "/feeds/questions/mars-landing/atom/" in page


def _feed_queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        parsed = _parse(client, url)
    return len(queries), len(parsed.entries)


def test_feed_queries_do_not_grow_with_the_number_of_items(client):
    # Each question in its own category, so per-category work would show too.
    start = timezone.now() - timedelta(days=40)

    def add_questions(count):
        for _ in range(count):
            question = QuestionFactory(category=CategoryFactory())
            for day, p in enumerate([0.3, 0.5, 0.3, 0.6]):
                make_round(question, [p, p + 0.1], when=start + timedelta(days=day * 12))

    add_questions(1)
    few_queries, few_items = _feed_queries(client, "/feeds/")
    add_questions(9)
    many_queries, many_items = _feed_queries(client, "/feeds/")

    assert many_items == 30 and few_items < 10
    assert many_queries == few_queries


def test_feed_readings_match_the_question_pages_readings(history):
    from forecasts import readings
    from questions.feeds import attach_readings, collect_events

    question, _ = history
    make_round(question, [0.1, 0.1], when=timezone.now() - timedelta(days=40))
    events = collect_events(_scope())
    attach_readings(events)

    with_snapshots = [e for e in events if e.snapshot is not None]
    assert with_snapshots
    for event in with_snapshots:
        assert event.stability == readings.stability(event.question, event.snapshot)
        assert event.confidence == readings.confidence(event.question.category)
        assert [r.pk for r in event.runs] == [
            r.pk for r in event.snapshot.round.model_runs.order_by("model_name")
        ]


def _scope():
    from questions.feeds import Scope

    return Scope(title="t", link="/", description="d", questions=Question.objects.published(), min_move=1.0)


@pytest.mark.parametrize("url", FEED_URLS)
def test_replayed_answers_are_announced_in_the_channel_and_every_item(client, history, settings, url):
    settings.FORECAST_REPLAY = True

    parsed = _parse(client, url)

    assert "replayed from recordings" in parsed.feed.subtitle
    assert parsed.entries
    for entry in parsed.entries:
        assert "replayed from recordings" in entry.summary, entry.title


def test_live_answers_carry_no_replay_notice(client, history, settings):
    settings.FORECAST_REPLAY = False

    parsed = _parse(client, "/feeds/")

    assert "replayed" not in parsed.feed.subtitle
    assert not any("replayed" in entry.summary for entry in parsed.entries)
