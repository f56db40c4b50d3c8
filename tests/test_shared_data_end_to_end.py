"""The main job on real data: both importers, then the pages readers see (marker: shared_data)."""

import json
import re

import pytest
from django.core.management import call_command

from forecasts.models import ModelRun, Snapshot
from questions.models import Category, Question

pytestmark = [pytest.mark.shared_data, pytest.mark.django_db]


@pytest.fixture(scope="module")
def imported(django_db_setup, django_db_blocker):
    # Imported once for the module (it takes seconds) and removed afterwards,
    # so other modules start from an empty database as usual.
    from tests.conftest import find_shared_data

    data = find_shared_data()
    with django_db_blocker.unblock():
        call_command("import_questions", str(data / "questions.jsonl"), "--quiet")
        call_command("import_forecasts", str(data / "model_forecasts.jsonl"), "--quiet")
        yield data
        Question.objects.all().delete()
        Category.objects.all().delete()


def test_both_importers_load_every_question_and_the_panels_forecasts(imported):
    assert Question.objects.count() == 241
    assert Question.objects.filter(status="resolved").count() == 241
    assert ModelRun.objects.filter(status="ok").count() == 964
    assert Snapshot.objects.filter(models_ok=4).count() == 241


def test_the_home_page_lists_the_imported_questions(imported, client):
    first = client.get("/").content.decode()
    pages = int(re.search(r"Page 1 of (\d+)", first).group(1))
    html = "".join(client.get("/", {"page": n}).content.decode() for n in range(1, pages + 1))
    listed = [q for q in Question.objects.all() if f'href="{q.get_absolute_url()}"' in html]
    assert len(listed) == 241


def test_a_question_page_shows_the_four_real_rationales(imported, client):
    rows = [json.loads(line) for line in (imported / "model_forecasts.jsonl").open()]
    question = Question.objects.filter(source="metaculus").order_by("pk").first()
    panel_rows = [r for r in rows if r["in_panel"] and r["source_id"] == question.source_id]
    assert len(panel_rows) == 4
    html = client.get(question.get_absolute_url()).content.decode()
    assert "4-model average" in html
    for row in panel_rows:
        assert row["model"] in html
        # Rationales are escaped and split into paragraphs: compare an opening run of words.
        opening = row["rationale"][:60].replace("&", "&amp;").replace("'", "&#x27;").replace('"', "&quot;")
        assert opening.split(" ")[0] in html and opening[:40] in html
