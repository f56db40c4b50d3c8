"""Plain functions from rows to JSON-ready dicts; the OpenAPI document (api.openapi) describes each shape.

What editors keep to themselves never appears here: no error messages, no
raw model output, no panel endpoints or key names, no drafts.
"""

import math

from django.conf import settings
from django.urls import reverse


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# Four decimals is a hundredth of a percentage point, finer than any page shows;
# beyond that a float's last digits are noise (0.27999999999999997).
DECIMALS = 4


def fraction(value):
    """A probability or score for JSON: rounded, and non-finite values never leave the server."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), DECIMALS)


def replayed():
    """Whether the panel's answers come from the local replay server rather than live models (bin/run)."""
    return bool(getattr(settings, "FORECAST_REPLAY", False))


def category(c, request):
    return {
        "slug": c.slug,
        "name": c.name,
        "description": c.description,
        "page_url": request.build_absolute_uri(c.get_absolute_url()),
        "questions_url": request.build_absolute_uri(reverse("api:questions") + f"?category={c.slug}"),
    }


def outcome(q):
    return None if q.outcome is None else ("yes" if q.outcome else "no")


def latest_summary(q):
    """From the annotations of QuestionQuerySet.with_latest_snapshot()."""
    if getattr(q, "latest_taken_at", None) is None:
        return None
    return {
        "taken_at": iso(q.latest_taken_at),
        "mean": fraction(q.latest_mean),
        "spread": fraction(q.latest_spread),
        "models_ok": q.latest_models_ok,
        "models_failed": q.latest_models_failed,
    }


def question_summary(q, request):
    return {
        "id": q.pk,
        "slug": q.slug,
        "title": q.title,
        "category": q.category.slug,
        "status": q.status,
        "outcome": outcome(q),
        "published_at": iso(q.published_at),
        "closes_at": iso(q.closes_at),
        "resolves_at": iso(q.resolves_at),
        "resolved_at": iso(q.resolved_at),
        "updated_at": iso(q.updated_at),
        "url": request.build_absolute_uri(reverse("api:question", args=[q.slug])),
        "page_url": request.build_absolute_uri(q.get_absolute_url()),
        "latest": latest_summary(q),
    }


def snapshot(s):
    return {
        "id": s.pk,
        "taken_at": iso(s.taken_at),
        "mean": fraction(s.mean),
        "median": fraction(s.median),
        "minimum": fraction(s.minimum),
        "maximum": fraction(s.maximum),
        "spread": fraction(s.spread),
        "models_ok": s.models_ok,
        "models_failed": s.models_failed,
    }


def model_run(r):
    # Deliberately a whitelist: error_message and raw_output are for editors only.
    return {
        "id": r.pk,
        "round_id": r.round_id,
        "model": r.model_name,
        "status": r.status,
        "probability": fraction(r.probability),
        "rationale": r.rationale if r.status == "ok" else "",
        "answered_at": iso(r.answered_at),
    }


def question_detail(q, request, snapshots, runs):
    data = question_summary(q, request)
    data.update(
        replayed=replayed(),
        background=q.background,
        resolution_criteria=q.resolution_criteria,
        resolution_note=q.resolution_note if q.status in ("resolved", "annulled") else "",
        resolution_source=q.resolution_source if q.status in ("resolved", "annulled") else "",
        snapshots=[snapshot(s) for s in snapshots],
        model_runs=[model_run(r) for r in runs],
        links={
            "snapshots": request.build_absolute_uri(reverse("api:snapshots", args=[q.slug])),
            "model_runs": request.build_absolute_uri(reverse("api:model-runs", args=[q.slug])),
            "trajectory_csv": request.build_absolute_uri(reverse("api:trajectory-csv", args=[q.slug])),
            "model_runs_csv": request.build_absolute_uri(reverse("api:model-runs-csv", args=[q.slug])),
        },
    )
    return data


def track_record(record):
    return {
        "n": record.n,
        "brier": fraction(record.brier),
        "log_score": fraction(record.log_score),
        "no_skill_brier": fraction(record.no_skill_brier),
        "no_skill_log_score": fraction(record.no_skill_log_score),
        "min_resolved": record.min_resolved,
        "is_building": record.is_building,
    }
