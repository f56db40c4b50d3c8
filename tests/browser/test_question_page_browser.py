from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasts.models import ModelRun, PanelModel
from tests.factories import PanelModelFactory, QuestionFactory, make_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMES = ["GPT-4o mini", "Claude Haiku", "Llama 3.3 70B", "Gemini Flash"]
RATIONALE = (
    "Current inference pricing for 70B models ranges from $0.30-$0.80/1M tokens.\n\n"
    "Historical precedent shows LLM inference costs have declined 60-80% annually."
)


@pytest.fixture
def question():
    PanelModel.objects.update(is_active=False)
    for position, name in enumerate(NAMES):
        PanelModelFactory(name=name, position=position, is_active=True)
    question = QuestionFactory(
        title="Will 70B-class model inference cost fall below $0.05 per 1M tokens by the end of 2026?",
        published_at=timezone.now() - timedelta(days=200),
    )
    now = timezone.now()
    for day in range(150, 0, -1):
        drift = (150 - day) / 600
        make_round(
            question,
            [0.35 + drift, 0.45 + drift, 0.30 + drift, 0.40 + drift],
            when=now - timedelta(days=day),
            names=NAMES,
        )
    rnd, _ = make_round(question, [0.62, 0.55, 0.71], failed=["Gemini Flash"], names=NAMES[:3])
    ModelRun.objects.filter(round=rnd, status=ModelRun.Status.OK).update(rationale=RATIONALE)
    return question


def _open(page, question):
    page.goto(reverse("questions:detail", kwargs={"slug": question.slug}))
    page.wait_for_selector(".chart-block.is-drawn")


def _mean_points(page):
    return page.evaluate(
        "() => Chart.getChart(document.querySelector('.chart-block canvas')).data.datasets[2].data.length"
    )


def test_the_chart_draws_without_console_errors(browser_page, question):
    page = browser_page
    _open(page, question)

    assert _mean_points(page) == 151
    assert page.locator(".chart-latest").inner_text().startswith("Latest average: 63%")
    assert page.console.errors == []


def test_the_lazy_parts_load_through_htmx(browser_page, question):
    page = browser_page
    page.goto(reverse("questions:detail", kwargs={"slug": question.slug}))

    page.wait_for_selector(".track-record")
    assert "building category history" in page.locator(".track-record").inner_text()
    page.wait_for_selector(".chart-block")
    assert page.get_by_text("Loading belief trajectory...").count() == 0
    assert page.console.errors == []


def test_range_buttons_redraw_the_chart(browser_page, question):
    page = browser_page
    _open(page, question)

    page.get_by_role("link", name="1M", exact=True).click()
    page.wait_for_selector('.range-button[data-range="1m"][aria-current="true"]')
    page.wait_for_selector(".chart-block.is-drawn")

    assert 28 <= _mean_points(page) <= 32
    # The page stayed where it was: htmx swapped the fragment in place.
    assert page.url.endswith(f"/questions/{question.slug}/")
    page.get_by_role("link", name="All", exact=True).click()
    page.wait_for_selector('.range-button[data-range="all"][aria-current="true"]')
    page.wait_for_selector(".chart-block.is-drawn")
    assert _mean_points(page) == 151
    assert page.evaluate("() => document.querySelectorAll('.chart-block canvas').length") == 1
    assert page.console.errors == []


def test_model_lines_can_be_switched_on(browser_page, question):
    page = browser_page
    _open(page, question)
    visible = """() => {
        const chart = Chart.getChart(document.querySelector('.chart-block canvas'));
        return chart.isDatasetVisible(chart.data.datasets.findIndex(ds => ds.label === 'GPT-4o mini'));
    }"""

    assert page.evaluate(visible) is False
    page.get_by_label("GPT-4o mini").check()
    assert page.evaluate(visible) is True


def test_the_page_works_without_javascript(chromium, live_server, question):
    context = chromium.new_context(java_script_enabled=False, base_url=live_server.url)
    page = context.new_page()
    try:
        page.goto(reverse("questions:detail", kwargs={"slug": question.slug}))
        assert "3-model average" in page.locator(".headline").inner_text()
        assert page.get_by_text("Loading belief trajectory...").is_visible() is False
        assert page.get_by_text("API error").is_visible()

        page.get_by_role("link", name="Show the belief trajectory as a table").click()

        assert page.locator(".chart-table table tbody tr").count() == 151
        assert page.locator(".chart-latest").is_visible()
        assert "building category history" in page.locator(".track-record").inner_text()
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height"), [(375, 812), (1280, 900)])
def test_screenshots_of_the_question_page(chromium, live_server, question, screenshots_dir, width, height):
    context = chromium.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
    page = context.new_page()
    try:
        _open(page, question)
        page.wait_for_selector(".track-record")
        # Nothing may stick out sideways on a phone.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        path = screenshots_dir / f"question-{width}x{height}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    finally:
        context.close()


def test_the_home_page_filters_without_reloading(browser_page, question):
    page = browser_page
    page.goto(reverse("questions:home"))
    page.get_by_role("link", name=question.category.name, exact=True).click()
    page.wait_for_url(f"**/?category={question.category.slug}")

    assert page.locator(".question-item").count() == 1
    assert "3-model average" in page.locator(".question-item").inner_text()
    assert page.console.errors == []


MODEL_VISIBLE = """name => {
    const chart = Chart.getChart(document.querySelector('.chart-block canvas'));
    return chart.isDatasetVisible(chart.data.datasets.findIndex(ds => ds.label === name));
}"""
X_TICKS = (
    "() => Chart.getChart(document.querySelector('.chart-block canvas')).scales.x.ticks.map(t => t.label)"
)


def _switch_range(page, key, label):
    page.get_by_role("link", name=label, exact=True).click()
    page.wait_for_selector(f'.range-button[data-range="{key}"][aria-current="true"]')
    page.wait_for_selector(".chart-block.is-drawn")


def test_chosen_model_lines_stay_on_across_range_changes(browser_page, question):
    page = browser_page
    _open(page, question)
    page.get_by_label("Claude Haiku").check()

    _switch_range(page, "1m", "1M")

    assert page.get_by_label("Claude Haiku").is_checked()
    assert page.evaluate(MODEL_VISIBLE, "Claude Haiku") is True
    assert page.evaluate(MODEL_VISIBLE, "GPT-4o mini") is False
    page.get_by_label("Claude Haiku").uncheck()
    _switch_range(page, "all", "All")
    assert not page.get_by_label("Claude Haiku").is_checked()
    assert page.evaluate(MODEL_VISIBLE, "Claude Haiku") is False
    assert page.console.errors == []


def test_on_a_phone_every_range_has_at_least_three_dates_and_the_table_fits(chromium, live_server, question):
    context = chromium.new_context(viewport={"width": 375, "height": 812}, base_url=live_server.url)
    page = context.new_page()
    try:
        _open(page, question)
        for key, label in [("1m", "1M"), ("3m", "3M"), ("1y", "1Y"), ("all", "All")]:
            _switch_range(page, key, label)
            ticks = page.evaluate(X_TICKS)
            assert len(ticks) >= 3, (key, ticks)
            assert len(set(ticks)) == len(ticks), (key, ticks)

        page.locator(".chart-table summary").click()
        box = page.locator(".chart-table .table-scroll")
        assert box.evaluate("el => el.scrollWidth <= el.clientWidth")
        # 151 rounds: this one scrolls down inside its box, under sticky headings.
        assert box.evaluate("el => el.scrollHeight > el.clientHeight")
    finally:
        context.close()


def test_a_single_round_still_gets_a_readable_time_axis(browser_page):
    single = QuestionFactory()
    make_round(single, [0.3, 0.4])

    _open(browser_page, single)

    ticks = browser_page.evaluate(X_TICKS)
    assert len(ticks) >= 3, ticks
    assert browser_page.console.errors == []
