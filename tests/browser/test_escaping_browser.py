"""Hostile text from a model or an editor stays text in a real browser."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasts.models import ModelRun, PanelModel
from questions.models import Category
from tests.factories import PanelModelFactory, QuestionFactory, make_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each payload sets window.__pwned (or opens a dialog) if it ever runs.
PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    "\"><script>alert('attr')</script>",
    "</script><script>window.__pwned = 'json'</script>",
    '<a href="javascript:window.__pwned=\'link\'" id="evil-link">click</a>',
    "<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>",
]
HOSTILE = " ".join(PAYLOADS)
NAMES = ["Seat <b>A</b>", "Seat B", "Seat C", "Seat D"]


@pytest.fixture
def hostile_question():
    PanelModel.objects.update(is_active=False)
    for position, name in enumerate(NAMES):
        PanelModelFactory(name=name, position=position, is_active=True)
    category = Category.objects.create(name="Evil <script>window.__pwned='cat'</script>", slug="evil")
    question = QuestionFactory(
        title=f"Will this hold? {PAYLOADS[0]} {PAYLOADS[1]}",
        background=HOSTILE,
        resolution_criteria=HOSTILE,
        category=category,
        published_at=timezone.now() - timedelta(days=10),
    )
    make_round(question, [0.4, 0.5, 0.6], when=timezone.now() - timedelta(days=2), names=NAMES[:3])
    rnd, _ = make_round(question, [0.45, 0.55, 0.65], failed=[NAMES[3]], names=NAMES[:3])
    ModelRun.objects.filter(round=rnd, status=ModelRun.Status.OK).update(rationale=HOSTILE)
    ModelRun.objects.filter(round=rnd).exclude(status=ModelRun.Status.OK).update(
        error_message=HOSTILE, raw_output=HOSTILE
    )
    return question


def _visit(page, url):
    page.goto(url)
    page.wait_for_load_state("networkidle")


def test_script_and_event_handlers_in_titles_and_rationales_never_run(browser_page, hostile_question):
    page = browser_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    detail = reverse("questions:detail", kwargs={"slug": hostile_question.slug})
    for url in (
        detail,
        reverse("questions:home"),
        reverse("questions:category", kwargs={"slug": "evil"}),
        reverse("questions:trajectory", kwargs={"slug": hostile_question.slug}),
    ):
        _visit(page, url)
        assert page.evaluate("() => window.__pwned") is None, url
        # Nothing from the payloads became an element.
        assert page.locator("img[src='x'], svg[onload], iframe[srcdoc], #evil-link").count() == 0, url
        # No CSP report either: nothing even tried to run inline.
        assert not [e for e in page.console.errors if "Content Security Policy" in e], url

    _visit(page, detail)
    text = page.locator("body").inner_text()
    # Escaped, not stripped: the reader sees what the model wrote, as text.
    assert "<script>window.__pwned = 'script'</script>" in text
    assert "onerror=" in text
    assert "Seat <b>A</b>" in text
    assert page.locator("b", has_text="A").count() == 0
    # The lazily loaded parts arrived and ran their own (allowed) scripts.
    page.wait_for_selector(".chart-block.is-drawn")
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    assert page.console.errors == []
