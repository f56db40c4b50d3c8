"""The track-record pages in a real browser: calibration charts, tables on a phone, the category list."""

import pytest
from django.urls import reverse

from questions.models import Question
from tests.factories import CategoryFactory, QuestionFactory, make_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}

# Whether every dot of the first calibration chart lies whole inside its plot area.
DOTS_INSIDE = """() => {
    const chart = Chart.getChart(document.querySelector('.calibration-chart canvas'));
    const area = chart.chartArea;
    return chart.getDatasetMeta(0).data.map(point => {
        const r = point.options.radius;
        return point.x - r >= area.left && point.x + r <= area.right
            && point.y - r >= area.top && point.y + r <= area.bottom;
    });
}"""


@pytest.fixture
def category():
    """Resolved questions whose bins sit at both corners of the chart: 0-10% that did not
    happen (observed 0%) and 90-100% that did (observed 100%), plus two in the middle."""
    category = CategoryFactory(name="Tech", slug="tech")
    for p, outcome in ((0.02, False), (0.75, True), (0.75, False), (0.97, True)):
        question = QuestionFactory(category=category)
        make_round(question, [p, p])
        question.status = Question.Status.RESOLVED
        question.outcome = outcome
        question.save()
    QuestionFactory(category=category, title="An open question that nobody has forecast yet")
    return category


def _open(page, url):
    page.goto(url)
    page.wait_for_selector(".calibration-chart.is-drawn canvas")


def test_calibration_charts_draw_without_console_errors(browser_page, category):
    page = browser_page
    _open(page, reverse("questions:category", kwargs={"slug": category.slug}))

    box = page.locator(".calibration-chart canvas").bounding_box()
    assert box["width"] > 100 and box["height"] > 100
    assert page.locator(".calibration-table").is_visible()
    _open(page, reverse("forecasts:models"))
    assert page.console.errors == []


def test_dots_at_0_and_100_percent_are_not_clipped(browser_page, category):
    page = browser_page
    _open(page, reverse("forecasts:models"))

    corners = page.evaluate(
        "() => Chart.getChart(document.querySelector('.calibration-chart canvas')).data.datasets[0].data"
        ".map(p => [Math.round(p.x), Math.round(p.y)])"
    )
    assert [2, 0] in corners and [97, 100] in corners
    assert all(page.evaluate(DOTS_INSIDE))


def test_the_calibration_table_shows_all_ten_bins_without_a_scroll_box(browser_page, category):
    page = browser_page
    _open(page, reverse("forecasts:models"))
    table = page.locator("#calibration-title ~ .table-scroll").first

    assert table.locator("tbody tr").count() == 10
    assert table.evaluate("el => el.scrollHeight <= el.clientHeight")
    row = table.locator("tbody tr").last
    assert "90–100%" in row.inner_text()
    row_box, table_box = row.bounding_box(), table.bounding_box()
    assert row_box["y"] + row_box["height"] <= table_box["y"] + table_box["height"] + 1


@pytest.mark.parametrize("name", ["forecasts:models", "questions:category"])
def test_on_a_phone_no_table_scrolls_sideways_and_captions_wrap(chromium, live_server, category, name):
    context = chromium.new_context(viewport=PHONE, base_url=live_server.url)
    page = context.new_page()
    try:
        kwargs = {"slug": category.slug} if name == "questions:category" else {}
        _open(page, reverse(name, kwargs=kwargs))
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")

        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        overflowing = page.evaluate(
            "() => [...document.querySelectorAll('.table-scroll')]"
            ".filter(el => el.scrollWidth > el.clientWidth).map(el => el.querySelector('caption').textContent)"
        )
        assert overflowing == []
        for caption in page.locator("caption").all():
            box = caption.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], caption.inner_text()
    finally:
        context.close()


def test_on_a_phone_the_model_table_shows_each_figure_with_its_heading(chromium, live_server, category):
    context = chromium.new_context(viewport=PHONE, base_url=live_server.url)
    page = context.new_page()
    try:
        _open(page, reverse("forecasts:models"))
        cell = page.locator("#model-table tbody tr").first.locator("td").nth(1)

        label = cell.evaluate("el => getComputedStyle(el, '::before').content")
        assert label == '"Brier"'
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}])
def test_category_questions_sit_inside_their_boxes_with_room(chromium, live_server, category, viewport):
    context = chromium.new_context(viewport=viewport, base_url=live_server.url)
    page = context.new_page()
    try:
        page.goto(reverse("questions:category", kwargs={"slug": category.slug}))
        items = page.locator(".question-item").all()
        assert len(items) == 5
        for item in items:
            box = item.bounding_box()
            link = item.locator("a").bounding_box()
            assert link["x"] - box["x"] >= 8
            assert link["y"] - box["y"] >= 8
        if viewport["width"] > 1000:
            # On a wide screen the percentages line up in one column.
            rights = {
                round(b["x"] + b["width"])
                for b in (
                    h.bounding_box() for h in page.locator(".question-item .headline:not(.no-forecast)").all()
                )
            }
            assert len(rights) == 1, rights
    finally:
        context.close()
