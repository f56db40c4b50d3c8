"""The OpenAPI 3.1 document for /api/v1/, served at /api/openapi.json.

Tests validate every endpoint's responses against these schemas, so a field
added to api.serializers without being described here fails the suite.
"""

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}
FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
NULLABLE_FRACTION = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
COUNT = {"type": "integer", "minimum": 0}
REPLAYED = {
    "type": "boolean",
    "description": "True when the panel's answers are replayed from recordings by a local server "
    "(a demo or development site), not asked of live models.",
}


def _object(properties, required=None):
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _page_of(name):
    return _object(
        {
            "replayed": REPLAYED,
            "count": COUNT,
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "offset": COUNT,
            "next": {"type": ["string", "null"], "format": "uri"},
            "previous": {"type": ["string", "null"], "format": "uri"},
            "results": {"type": "array", "items": _ref(name)},
        }
    )


SCHEMAS = {
    "Error": _object(
        {"error": _object({"status": {"type": "integer"}, "message": {"type": "string"}})},
    ),
    "Category": _object(
        {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "page_url": {"type": "string", "format": "uri"},
            "questions_url": {"type": "string", "format": "uri"},
        }
    ),
    "LatestSnapshot": {
        "oneOf": [
            {"type": "null"},
            _object(
                {
                    "taken_at": TIME,
                    "mean": FRACTION,
                    "spread": FRACTION,
                    "models_ok": {"type": "integer", "minimum": 1},
                    "models_failed": COUNT,
                }
            ),
        ]
    },
    "QuestionSummary": _object(
        {
            "id": {"type": "integer"},
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "category": {"type": "string", "description": "The category's slug."},
            "status": {"enum": ["open", "closed", "resolved", "annulled"]},
            "outcome": {"enum": ["yes", "no", None], "description": "Set only when resolved."},
            "published_at": TIME,
            "closes_at": NULLABLE_TIME,
            "resolves_at": NULLABLE_TIME,
            "resolved_at": NULLABLE_TIME,
            "updated_at": TIME,
            "url": {"type": "string", "format": "uri"},
            "page_url": {"type": "string", "format": "uri"},
            "latest": _ref("LatestSnapshot"),
        }
    ),
    "Snapshot": _object(
        {
            "id": {"type": "integer"},
            "taken_at": TIME,
            "mean": FRACTION,
            "median": FRACTION,
            "minimum": FRACTION,
            "maximum": FRACTION,
            "spread": FRACTION,
            "models_ok": {"type": "integer", "minimum": 1},
            "models_failed": COUNT,
        }
    ),
    "ModelRun": _object(
        {
            "id": {"type": "integer"},
            "round_id": {"type": "integer"},
            "model": {"type": "string"},
            "status": {"enum": ["ok", "unparseable", "refused", "truncated", "timeout", "provider_error"]},
            "probability": {**NULLABLE_FRACTION, "description": "Null unless the status is ok."},
            "rationale": {"type": "string"},
            "answered_at": TIME,
        }
    ),
    "TrackRecord": _object(
        {
            "n": {**COUNT, "description": "Resolved questions scored (annulled ones never count)."},
            "brier": {
                "type": ["number", "null"],
                "minimum": 0,
                "maximum": 1,
                "description": "Null when n is 0.",
            },
            "log_score": {"type": ["number", "null"], "minimum": 0},
            "no_skill_brier": {"type": "number"},
            "no_skill_log_score": {"type": "number"},
            "min_resolved": COUNT,
            "is_building": {"type": "boolean"},
        }
    ),
}

SCHEMAS["QuestionDetail"] = {
    **SCHEMAS["QuestionSummary"],
    "properties": {
        **SCHEMAS["QuestionSummary"]["properties"],
        "replayed": REPLAYED,
        "background": {"type": "string"},
        "resolution_criteria": {"type": "string"},
        "resolution_note": {"type": "string"},
        "resolution_source": {"type": "string"},
        "snapshots": {
            "type": "array",
            "items": _ref("Snapshot"),
            "description": "The latest 50 snapshots, newest first; the snapshots link pages through all.",
        },
        "model_runs": {
            "type": "array",
            "items": _ref("ModelRun"),
            "description": "The latest round's answers.",
        },
        "links": _object(
            {
                name: {"type": "string", "format": "uri"}
                for name in ("snapshots", "model_runs", "trajectory_csv", "model_runs_csv")
            }
        ),
    },
}
SCHEMAS["QuestionDetail"]["required"] = list(SCHEMAS["QuestionDetail"]["properties"])
SCHEMAS["CategoryTrackRecord"] = _object(
    {"category": {"type": "string"}, "name": {"type": "string"}, **SCHEMAS["TrackRecord"]["properties"]}
)
SCHEMAS["TrackRecords"] = _object(
    {
        "replayed": REPLAYED,
        "overall": _ref("TrackRecord"),
        "categories": {"type": "array", "items": _ref("CategoryTrackRecord")},
        "models": {
            "type": "array",
            "items": _object(
                {
                    "model": {"type": "string"},
                    "model_record": _ref("TrackRecord"),
                    "panel_record": _ref("TrackRecord"),
                }
            ),
        },
    }
)
URI = {"type": "string", "format": "uri"}
SCHEMAS["ApiIndex"] = _object(
    {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "replayed": REPLAYED,
        "openapi": {**URI, "description": "This document."},
        "endpoints": _object(
            {
                name: {"type": "string", "description": "A URL; {slug} stands for a question's slug."}
                for name in (
                    "categories", "questions", "question", "snapshots", "model_runs", "trajectory_csv",
                    "model_runs_csv", "track_records",
                )
            }
        ),
    }
)  # fmt: skip
for name in ("Category", "QuestionSummary", "Snapshot", "ModelRun"):
    SCHEMAS[f"{name}Page"] = _page_of(name)


def _json(schema_name, description):
    return {"description": description, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _errors(*codes):
    texts = {400: "Invalid parameter.", 404: "No published question has this slug."}
    return {str(code): _json("Error", texts[code]) for code in codes}


PAGING = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
    },
]
SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
}


def _get(summary, responses, parameters=(), operation_id=None):
    return {
        "get": {
            "summary": summary,
            "operationId": operation_id,
            "parameters": list(parameters),
            "responses": responses,
        }
    }


def _csv(description):
    return {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}


PATHS = {
    "/": _get(
        "The index: every endpoint with its URL, and where this document lives",
        {"200": _json("ApiIndex", "The endpoints.")}, [], "apiIndex",
    ),
    "/categories/": _get(
        "Categories, in page order", {"200": _json("CategoryPage", "A page of categories."), **_errors(400)}, PAGING,
        "listCategories",
    ),
    "/questions/": _get(
        "Published questions, newest first",
        {"200": _json("QuestionSummaryPage", "A page of questions."), **_errors(400)},
        [
            {"name": "category", "in": "query", "required": False, "schema": SLUG["schema"],
             "description": "A category slug; an unknown slug matches no question."},
            {"name": "status", "in": "query", "required": False,
             "schema": {"enum": ["open", "closed", "resolved", "annulled"]}},
            {"name": "updated_since", "in": "query", "required": False,
             "schema": {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]},
             "description": "ISO 8601 date or date-time (UTC when no zone): questions changed or forecast since."},
            *PAGING,
        ],
        "listQuestions",
    ),
    "/questions/{slug}/": _get(
        "One question with its latest snapshots and the latest round's model answers",
        {"200": _json("QuestionDetail", "The question."), **_errors(404)}, [SLUG], "getQuestion",
    ),
    "/questions/{slug}/snapshots/": _get(
        "The question's trajectory: every snapshot, newest first",
        {"200": _json("SnapshotPage", "A page of snapshots."), **_errors(400, 404)}, [SLUG, *PAGING],
        "listSnapshots",
    ),
    "/questions/{slug}/model-runs/": _get(
        "Every model answer for the question, newest first",
        {"200": _json("ModelRunPage", "A page of model runs."), **_errors(400, 404)}, [SLUG, *PAGING],
        "listModelRuns",
    ),
    "/questions/{slug}/trajectory.csv": _get(
        "The trajectory as CSV, oldest first",
        {"200": _csv("taken_at, mean, median, minimum, maximum, spread, models_ok, models_failed"), **_errors(404)},
        [SLUG], "trajectoryCsv",
    ),
    "/questions/{slug}/model-runs.csv": _get(
        "Every model answer as CSV, oldest first",
        {"200": _csv("answered_at, round_id, model, status, probability, rationale"), **_errors(404)},
        [SLUG], "modelRunsCsv",
    ),
    "/track-records/": _get(
        "Brier and log scores of the final forecasts on resolved questions: overall, per category, per model",
        {"200": _json("TrackRecords", "Track records.")}, [], "trackRecords",
    ),
}  # fmt: skip


def build_document(server_url):
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "forecastsite API",
            "version": "1",
            "description": "Read-only access to published questions, the panel's forecasts and track records. "
            "Probabilities are fractions in [0, 1], rounded to 4 decimals. Responses are cached for up to a "
            "minute. `replayed` is true when the panel's answers come from a local replay server, not live models.",
        },
        "servers": [{"url": server_url}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }
