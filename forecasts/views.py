"""Public pages about how good the forecasts have been: categories, models, methodology."""

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from questions.models import Category, Question

from . import scoring, thresholds
from .cache import cache_for_readers
from .readings import points

CATEGORY_PAGE_SIZE = 25


@require_safe
@cache_for_readers
def category_page(request, slug):
    """A category's published questions with their headline, and its track record."""
    category = get_object_or_404(Category, slug=slug)
    questions = Question.objects.published().in_category(category).with_latest_snapshot()
    questions = questions.order_by("-published_at", "-pk")
    page = Paginator(questions, CATEGORY_PAGE_SIZE).get_page(request.GET.get("page"))
    for question in page.object_list:
        # Rounded as on the question page, so the two never disagree by a point.
        question.headline_points = points(question.latest_mean)
    report = scoring.category_report(category)
    return render(
        request,
        "questions/category.html",
        {
            "category": category,
            "page": page,
            "record": report.record,
            "calibration": report.calibration,
            "calibration_points": scoring.calibration_points(report.calibration),
        },
    )


@require_safe
@cache_for_readers
def models(request):
    """Each model's record against the panel average and the always-50% baseline."""
    forecasts = scoring.final_forecasts()
    pairs = [(f.probability, f.outcome) for f in forecasts]
    panel_calibration = scoring.calibration(pairs)
    return render(
        request,
        "forecasts/models.html",
        {
            "panel": scoring.TrackRecord.from_pairs(pairs),
            "panel_calibration": panel_calibration,
            "panel_calibration_points": scoring.calibration_points(panel_calibration),
            "records": scoring.model_records(),
            "category_records": scoring.category_records(),
            "methods": scoring.aggregation_method_records(),
        },
    )


@require_safe
@cache_for_readers
def methodology(request):
    return render(
        request,
        "forecasts/methodology.html",
        {
            "t": thresholds,
            "no_skill_log_score": scoring.NO_SKILL_LOG_LOSS,
            "log_clip": scoring.LOG_CLIP,
            "bins": scoring.CALIBRATION_BINS,
        },
    )
