"""The track record on the real questions and panel answers in ../shared/data.

Every figure is checked against a plain recomputation from the files.

The rows are written straight into the database here, so these figures do not
depend on the importer.
"""

import json
import math
import re
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils.text import slugify

from forecasts import scoring, thresholds
from forecasts.aggregation import summarize
from forecasts.models import ModelRun, Round, Snapshot
from questions.models import Category, Question

pytestmark = [pytest.mark.shared_data, pytest.mark.django_db]


def read_jsonl(path):
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def day(text):
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


@pytest.fixture
def data(shared_data_dir):
    questions = read_jsonl(shared_data_dir / "questions.jsonl")
    panel = [row for row in read_jsonl(shared_data_dir / "model_forecasts.jsonl") if row["in_panel"]]
    return questions, panel


@pytest.fixture
def loaded(data):
    questions, panel = data
    names = sorted({q["category"] for q in questions})
    categories = {name: Category.objects.create(name=name, slug=slugify(name)) for name in names}
    by_source = {}
    for i, q in enumerate(questions):
        by_source[q["source_id"]] = Question(
            title=q["question"][:300],
            slug=f"{slugify(q['question'])[:150]}-{i}",
            category=categories[q["category"]],
            status=Question.Status.RESOLVED,
            outcome=bool(q["outcome"]),
            published_at=day(q["created_date"]),
            resolved_at=day(q["resolution_date"]),
            source=q["source"],
            source_id=q["source_id"],
        )
    Question.objects.bulk_create(by_source.values())
    by_source = {q.source_id: q for q in Question.objects.all()}

    answers = defaultdict(list)
    for row in panel:
        answers[row["source_id"]].append(row)
    when = day(panel[0]["forecast_date"])
    rounds = Round.objects.bulk_create(
        Round(question=by_source[sid], slot_at=when, kind=Round.Kind.IMPORTED, status=Round.Status.DONE)
        for sid in answers
    )
    runs, snapshots = [], []
    for rnd, rows in zip(rounds, answers.values(), strict=True):
        for row in rows:
            runs.append(
                ModelRun(
                    round=rnd,
                    question=rnd.question,
                    model_name=row["model"],
                    status=ModelRun.Status.OK,
                    probability=row["probability"],
                    rationale=row["rationale"] or "",
                    answered_at=when,
                    is_imported=True,
                )
            )
        s = summarize([row["probability"] for row in rows])
        snapshots.append(
            Snapshot(
                question=rnd.question,
                round=rnd,
                taken_at=when,
                mean=s.mean,
                median=s.median,
                minimum=s.minimum,
                maximum=s.maximum,
                spread=s.spread,
                models_ok=s.count,
                is_imported=True,
            )
        )
    ModelRun.objects.bulk_create(runs)
    Snapshot.objects.bulk_create(snapshots)
    return data


def independent_scores(data):
    """Brier of the plain 4-model mean, overall and per category name, without any site code."""
    questions, panel = data
    probabilities = defaultdict(list)
    for row in panel:
        probabilities[row["source_id"]].append(row["probability"])
    overall, per_category = [], defaultdict(list)
    for q in questions:
        mean = sum(probabilities[q["source_id"]]) / len(probabilities[q["source_id"]])
        score = (mean - q["outcome"]) ** 2
        overall.append(score)
        per_category[q["category"]].append(score)
    return (
        sum(overall) / len(overall),
        len(overall),
        {name: (sum(s) / len(s), len(s)) for name, s in per_category.items()},
    )


def independent_model_scores(data):
    questions, panel = data
    outcomes = {q["source_id"]: q["outcome"] for q in questions}
    scores = defaultdict(list)
    for row in panel:
        scores[row["model"]].append((row["probability"] - outcomes[row["source_id"]]) ** 2)
    return {model: sum(s) / len(s) for model, s in scores.items()}


def brier_figure(html):
    return re.search(r'data-figure="brier">\s*([^<]*?)\s*<', html).group(1)


def test_panel_average_brier_matches_an_independent_computation(loaded):
    brier, n, _ = independent_scores(loaded)

    record = scoring.overall_track_record()

    assert n == 241
    assert f"{brier:.3f}" == "0.169"
    assert record.n == n
    assert math.isclose(record.brier, brier, abs_tol=1e-12)


def test_models_page_shows_the_same_figures(client, loaded):
    brier, _, _ = independent_scores(loaded)
    per_model = independent_model_scores(loaded)

    html = client.get(reverse("forecasts:models")).content.decode()

    panel = html[html.index('id="panel-record"') :]
    assert brier_figure(panel) == f"{brier:.3f}" == "0.169"
    assert re.search(r'data-figure="n">241<', panel)
    table = html[html.index('id="model-table"') : html.index("</table>", html.index('id="model-table"'))]
    assert len(per_model) == 4
    for model, score in per_model.items():
        row = re.search(
            rf">{re.escape(model)}</a></th>\s*<td[^>]*>241</td>\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>", table
        )
        assert row, model
        assert row.groups() == (f"{score:.3f}", f"{brier:.3f}")


def test_category_pages_match_per_category_figures(client, loaded):
    _, _, per_category = independent_scores(loaded)
    assert len(per_category) == 8

    for name, (brier, n) in per_category.items():
        category = Category.objects.get(name=name)
        record = scoring.category_track_record(category)
        assert record.n == n
        assert math.isclose(record.brier, brier, abs_tol=1e-12)

        html = client.get(reverse("questions:category", kwargs={"slug": slugify(name)})).content.decode()
        assert brier_figure(html) == f"{brier:.3f}", name
        building = "building category history" in html.lower()
        assert building == (n < thresholds.MIN_RESOLVED_FOR_TRACK_RECORD), name


def test_small_categories_say_building_category_history(client, loaded):
    for slug, n in (("health-science", 5), ("other", 4)):
        html = client.get(reverse("questions:category", kwargs={"slug": slug})).content.decode()
        assert "building category history" in html.lower()
        assert re.search(rf'data-figure="n">{n}<', html)

    models_page = client.get(reverse("forecasts:models")).content.decode()
    table = models_page[models_page.index('id="category-table"') :]
    for name in ("Health &amp; Science", "Other"):
        assert re.search(rf">{name}</a></th>\s*<td[^>]*>\d</td>.*?building category history", table, re.S)
