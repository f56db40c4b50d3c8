"""The panel and its history in the admin.

Rounds, snapshots and model runs are written only by the pipeline, so their
admins are read-only; editors read errors and raw output here (readers never
see them). These tables grow by thousands of rows a day: no full counts, a
capped paginator, and related rows fetched with the page.
"""

import os
from datetime import timedelta

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Count, DecimalField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDay, TruncMonth
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from .models import ModelRun, PanelModel, Round, Snapshot

STATS_WINDOW = timedelta(days=30)
RECENT_ERRORS = 10


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: pages past the cap are not linked, and no full count ever runs."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list.order_by().values("pk")[: self.CAP].count()


class ReadOnlyAdmin(admin.ModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def round_label_filter(path):
    """Filter by Round.label; the choices come from the rounds table alone, never a scan of the joined rows."""

    class RoundLabelFilter(admin.SimpleListFilter):
        title = "round label"
        parameter_name = path

        def lookups(self, request, model_admin):
            labels = (
                Round.objects.exclude(label="").order_by("label").values_list("label", flat=True).distinct()
            )
            return [(label, label) for label in labels]

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{path: self.value()})
            return queryset

    return RoundLabelFilter


@admin.display(description="round label", ordering="round__label")
def _round_label(obj):
    # "sample history", "imported forecasts": how editors tell seeded or imported rounds from live ones.
    return obj.round.label if obj.round_id and obj.round.label else "–"


def _question_link(question):
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:questions_question_change", args=[question.pk]), question
    )


@admin.register(Round)
class RoundAdmin(ReadOnlyAdmin):
    list_display = ["slot_at", "question_link", "kind", "label", "status", "claims", "finished_at"]
    list_filter = ["status", "kind", round_label_filter("label")]
    list_select_related = ["question"]
    search_fields = ["question__title", "label"]
    raw_id_fields = ["question"]

    @admin.display(description="question")
    def question_link(self, obj):
        return _question_link(obj.question)


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "taken_at", "question_link", "round_label", "mean", "median", "minimum", "maximum", "spread", "answered",
    ]  # fmt: skip
    list_filter = ["is_imported", round_label_filter("round__label")]
    list_select_related = ["question", "round"]
    search_fields = ["question__title", "round__label"]
    raw_id_fields = ["question", "round"]

    @admin.display(description="question")
    def question_link(self, obj):
        return _question_link(obj.question)

    round_label = staticmethod(_round_label)

    @admin.display(description="answered")
    def answered(self, obj):
        return f"{obj.models_ok} of {obj.models_total}"


@admin.register(ModelRun)
class ModelRunAdmin(ReadOnlyAdmin):
    list_display = [
        "answered_at",
        "model_name",
        "question_link",
        "status",
        "probability",
        "cost_usd",
        "error",
        "round_label",
    ]
    list_filter = ["status", "model_name", "is_imported", round_label_filter("round__label")]
    list_select_related = ["question", "round"]
    search_fields = ["question__title", "error_message", "round__label"]
    raw_id_fields = ["question", "round", "panel_model"]
    fieldsets = [
        (None, {"fields": ["question", "round", "panel_model", "model_name", "answered_at", "is_imported"]}),
        ("Answer", {"fields": ["status", "probability", "was_percent", "rationale"]}),
        ("For editors: errors and the raw reply", {"fields": ["error_message", "raw_output", "output_mode"]}),
        ("Cost", {"fields": ["prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "attempts"]}),
    ]

    @admin.display(description="question")
    def question_link(self, obj):
        return _question_link(obj.question)

    round_label = staticmethod(_round_label)

    @admin.display(description="error")
    def error(self, obj):
        return truncatechars(obj.error_message, 120)


def _money(value):
    return "–" if value is None else f"${value:,.4f}"


@admin.register(PanelModel)
class PanelModelAdmin(admin.ModelAdmin):
    list_display = [
        "name", "model", "base_url", "api_key_env", "is_active", "answer_rate", "errors_30d", "spent_today",
        "spent_this_month",
    ]  # fmt: skip
    list_editable = ["is_active"]
    readonly_fields = ["key_status", "answer_rate", "spending_by_day", "spending_by_month", "recent_errors"]
    fieldsets = [
        (None, {"fields": ["name", "model", "position", "is_active"]}),
        ("Endpoint", {"fields": ["base_url", "api_key_env", "key_status", "output_mode", "stream"]}),
        ("Limits", {"fields": ["timeout_seconds", "max_tokens", "temperature"]}),
        ("Prices", {"fields": ["price_in_per_million", "price_out_per_million"]}),
        (
            "Last 30 days",
            {"fields": ["answer_rate", "recent_errors", "spending_by_day", "spending_by_month"]},
        ),
    ]

    # The worker sends the key variable's value to the base URL: whoever may
    # change either can read any key on the server, so only administrators may.
    ENDPOINT_FIELDS = ["base_url", "api_key_env"]

    def has_delete_permission(self, request, obj=None):
        # Past runs keep the seat's name; deactivate a seat instead of deleting it.
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += self.ENDPOINT_FIELDS
        return fields

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        # Whether a variable is set on the server is for administrators only.
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f != "key_status"]})
            for title, options in super().get_fieldsets(request, obj)
        ]

    def get_queryset(self, request):
        now = timezone.now()
        runs = ModelRun.objects.filter(panel_model=OuterRef("pk")).order_by().values("panel_model")
        recent = runs.filter(answered_at__gte=now - STATS_WINDOW)

        def count(qs):
            return Coalesce(Subquery(qs.annotate(n=Count("pk")).values("n")), 0)

        def spend(qs):
            money = DecimalField(max_digits=14, decimal_places=6)
            return Coalesce(
                Subquery(qs.annotate(s=Sum("cost_usd")).values("s"), output_field=money), Value(0, money)
            )

        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return (
            super()
            .get_queryset(request)
            .annotate(
                runs_30d=count(recent),
                ok_30d=count(recent.filter(status=ModelRun.Status.OK)),
                spend_today=spend(runs.filter(answered_at__gte=today)),
                spend_month=spend(runs.filter(answered_at__gte=today.replace(day=1))),
            )
        )

    def _annotated(self, obj):
        if hasattr(obj, "runs_30d"):
            return obj
        return self.get_queryset(None).get(pk=obj.pk) if obj.pk else None

    @admin.display(description="answer rate (30 days)")
    def answer_rate(self, obj):
        obj = self._annotated(obj)
        if obj is None or not obj.runs_30d:
            return "n/a"
        return f"{obj.ok_30d / obj.runs_30d:.0%} of {obj.runs_30d}"

    @admin.display(description="errors (30 days)")
    def errors_30d(self, obj):
        return obj.runs_30d - obj.ok_30d

    @admin.display(description="spent today")
    def spent_today(self, obj):
        return _money(obj.spend_today)

    @admin.display(description="spent this month")
    def spent_this_month(self, obj):
        return _money(obj.spend_month)

    @admin.display(description="API key")
    def key_status(self, obj):
        # The name only: the value never leaves the environment.
        name = obj.api_key_env or "OPENAI_API_KEY"
        state = "set" if os.environ.get(name) else "not set on this server"
        return f"{name} ({state})"

    def _spending(self, obj, trunc, since, fmt):
        if not obj.pk:
            return "–"
        rows = (
            ModelRun.objects.filter(panel_model=obj, answered_at__gte=since)
            .annotate(period=trunc("answered_at"))
            .values("period")
            .annotate(cost=Sum("cost_usd"), runs=Count("pk"), failed=Count("pk", filter=~Q(status="ok")))
            .order_by("-period")
        )
        if not rows:
            return "No runs yet."
        return format_html(
            "<table><thead><tr><th>period</th><th>runs</th><th>failed</th><th>cost</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((r["period"].strftime(fmt), r["runs"], r["failed"], _money(r["cost"])) for r in rows),
            ),
        )

    @admin.display(description="spending per day")
    def spending_by_day(self, obj):
        return self._spending(obj, TruncDay, timezone.now() - STATS_WINDOW, "%Y-%m-%d")

    @admin.display(description="spending per month")
    def spending_by_month(self, obj):
        return self._spending(obj, TruncMonth, timezone.now() - timedelta(days=366), "%Y-%m")

    @admin.display(description=f"last {RECENT_ERRORS} errors")
    def recent_errors(self, obj):
        if not obj.pk:
            return "–"
        runs = ModelRun.objects.failed().filter(panel_model=obj).order_by("-answered_at")[:RECENT_ERRORS]
        if not runs:
            return "No errors."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a>: {}: {}</li>',
                (
                    (
                        reverse("admin:forecasts_modelrun_change", args=[run.pk]),
                        run.answered_at,
                        run.get_status_display(),
                        truncatechars(run.error_message, 200),
                    )
                    for run in runs
                ),
            ),
        )
