"""The editors' admin for categories and questions.

Status changes go through questions.services, whether from the form or from a
bulk action; bulk actions update the whole selected queryset at once, so
"select all" over thousands of questions sends one form field, not one per row.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import Count, F, Max
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from forecasts.readings import points

from . import services
from .models import Category, Question

# "Run a forecast now" queues at most this many rounds per click: each one
# calls every panel model, so "select all" must not start thousands at once.
RUN_NOW_LIMIT = 200
# How far back the "failing" filter and the inline tables look.
FAILING_WINDOW = timedelta(days=3)
INLINE_SNAPSHOTS = 5
INLINE_MODEL_RUNS = 20


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "order", "question_count"]
    list_editable = ["order"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(num_questions=Count("questions"))

    @admin.display(description="questions", ordering="num_questions")
    def question_count(self, obj):
        return obj.num_questions


class DueFilter(admin.SimpleListFilter):
    title = "resolution date"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Past due, unresolved"), ("30d", "Due within 30 days"), ("none", "No date")]

    def queryset(self, request, queryset):
        now = timezone.now()
        undecided = queryset.exclude(status__in=[Question.Status.RESOLVED, Question.Status.ANNULLED])
        if self.value() == "overdue":
            return undecided.filter(resolves_at__lt=now)
        if self.value() == "30d":
            return undecided.filter(resolves_at__gte=now, resolves_at__lt=now + timedelta(days=30))
        if self.value() == "none":
            return queryset.filter(resolves_at__isnull=True)
        return queryset


class FailingFilter(admin.SimpleListFilter):
    title = "model failures"
    parameter_name = "failing"

    def lookups(self, request, model_admin):
        return [("yes", "A model or round failed in the last 3 days")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(services.failing_filter(timezone.now() - FAILING_WINDOW))
        return queryset


# What each of Question's constraints means to an editor, and which field to fix.
CONSTRAINT_MESSAGES = {
    "question_outcome_iff_resolved": (
        "outcome",
        "Only a resolved question has an outcome: set Status to Resolved with YES or NO, "
        "or set Outcome back to Unknown.",
    ),
    "question_published_has_date": (
        "published_at",
        "A question that is not a draft needs a publication time.",
    ),
    "question_resolution_stamp_only_when_decided": (
        "status",
        "Only a resolved or annulled question has a resolution time and editor.",
    ),
    "question_closes_after_published": (
        "closes_at",
        "The closing time must come after the publication time.",
    ),
    "question_cadence_positive": ("cadence_hours", "The cadence is at least one hour."),
}


class QuestionAdminForm(forms.ModelForm):
    class Meta:
        model = Question
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        previous_status = self.initial.get("status", Question.Status.DRAFT) if self.instance.pk else None
        previous_outcome = self.initial.get("outcome") if self.instance.pk else None
        status = cleaned.get("status")
        outcome = cleaned.get("outcome")
        if previous_status is None:
            # A new question starts as a draft or goes straight to open.
            if status not in (Question.Status.DRAFT, Question.Status.OPEN):
                self.add_error("status", "A new question is a draft or open; resolve it once it exists.")
            return cleaned
        probe = Question(
            status=status, outcome=outcome, published_at=cleaned.get("published_at"), resolved_at=None
        )
        try:
            services.apply_status_change(probe, previous_status, previous_outcome)
        except services.TransitionError as error:
            field = "outcome" if status == Question.Status.RESOLVED and outcome is None else "status"
            self.add_error(field, str(error))
            return cleaned
        # The lifecycle clears the outcome of a question leaving Resolved and dates
        # a publication; the form saves what it decided, so the constraints hold.
        cleaned["outcome"] = probe.outcome
        cleaned["published_at"] = probe.published_at
        return cleaned

    def validate_constraints(self):
        """The database's invariants, in words an editor can act on instead of a constraint's name."""
        exclude = self._get_validation_exclusions()
        using = router.db_for_write(Question, instance=self.instance)
        for constraint in Question._meta.constraints:
            try:
                constraint.validate(Question, self.instance, exclude=exclude, using=using)
            except ValidationError as error:
                field, message = CONSTRAINT_MESSAGES.get(constraint.name, (None, None))
                self.add_error(field if field in self.fields else None, message or error)


def _table(headers, rows):
    head = format_html_join("", "<th scope='col'>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    form = QuestionAdminForm
    list_display = [
        "title", "category", "status_display", "headline", "spread", "latest_at", "published_at",
        "resolves_at",
    ]  # fmt: skip
    list_filter = ["status", DueFilter, FailingFilter, "category"]
    list_select_related = ["category"]
    search_fields = ["title", "slug", "source_id"]
    prepopulated_fields = {"slug": ("title",)}
    autocomplete_fields = ["category"]
    date_hierarchy = None
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = [
        "resolved_at", "resolved_by", "created_at", "updated_at", "latest_snapshots", "latest_model_runs",
    ]  # fmt: skip
    fieldsets = [
        ("Content", {"fields": ["title", "slug", "background", "resolution_criteria"]}),
        ("Category and schedule", {"fields": ["category", "cadence_hours", "closes_at", "resolves_at"]}),
        ("Publishing", {"fields": ["status", "published_at"]}),
        (
            "Resolution",
            {
                "fields": ["outcome", "resolution_note", "resolution_source", "resolved_at", "resolved_by"],
                "description": "Set the status to Resolved and pick the outcome; un-resolve by setting it "
                "back to Closed, which clears the outcome. The time and editor are recorded.",
            },
        ),
        ("Latest rounds", {"fields": ["latest_snapshots", "latest_model_runs"]}),
        (
            "Import",
            {
                "fields": ["source", "source_id", "source_url", "created_at", "updated_at"],
                "classes": ["collapse"],
            },
        ),
    ]
    actions = [
        "publish_selected", "close_selected", "run_now", "resolve_yes", "resolve_no", "annul_selected",
        "unresolve_selected",
    ]  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).with_latest_snapshot()

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return obj.status_label

    @admin.display(description="average")
    def headline(self, obj):
        value = points(getattr(obj, "latest_mean", None))
        return "–" if value is None else f"{value}%"

    @admin.display(description="spread")
    def spread(self, obj):
        value = points(getattr(obj, "latest_spread", None))
        return "–" if value is None else f"{value}pt"

    @admin.display(description="latest round")
    def latest_at(self, obj):
        return getattr(obj, "latest_taken_at", None)

    @admin.display(description=f"Latest {INLINE_SNAPSHOTS} snapshots")
    def latest_snapshots(self, obj):
        if not obj.pk:
            return "–"
        rows = obj.snapshots.select_related("round").order_by("-taken_at")[:INLINE_SNAPSHOTS]
        return _table(
            ["taken", "round label", "average", "median", "min–max", "spread", "answered"],
            [
                (
                    s.taken_at,
                    s.round.label or "–",
                    f"{points(s.mean)}%",
                    f"{points(s.median)}%",
                    f"{points(s.minimum)}–{points(s.maximum)}%",
                    f"{points(s.spread)}pt",
                    f"{s.models_ok} of {s.models_total}",
                )
                for s in rows
            ],
        )

    @admin.display(description=f"Latest {INLINE_MODEL_RUNS} model runs")
    def latest_model_runs(self, obj):
        if not obj.pk:
            return "–"
        runs = obj.model_runs.select_related("round").order_by("-answered_at", "model_name")[
            :INLINE_MODEL_RUNS
        ]
        return _table(
            ["answered", "round label", "model", "status", "probability", "error", "raw output"],
            [
                (
                    format_html(
                        '<a href="{}">{}</a>',
                        reverse("admin:forecasts_modelrun_change", args=[run.pk]),
                        run.answered_at,
                    ),
                    run.round.label or "–",
                    run.model_name,
                    run.get_status_display(),
                    "–" if run.probability is None else f"{points(run.probability)}%",
                    truncatechars(run.error_message, 200),
                    truncatechars(run.raw_output, 200),
                )
                for run in runs
            ],
        )

    def save_model(self, request, obj, form, change):
        if change:
            services.apply_status_change(
                obj, form.initial.get("status"), form.initial.get("outcome"), user=request.user
            )
        elif obj.status == Question.Status.OPEN and obj.published_at is None:
            obj.published_at = timezone.now()
        super().save_model(request, obj, form, change)
        services.bump_content_generation()

    def get_deleted_objects(self, objs, request):
        """Counts instead of one line per snapshot and model run: a question can have tens of thousands."""
        from forecasts.models import ModelRun, Round, Snapshot

        ids = [obj.pk for obj in objs] if isinstance(objs, list) else objs.values("pk")
        counts = {
            Question._meta.verbose_name_plural: len(objs) if isinstance(objs, list) else objs.count(),
            Round._meta.verbose_name_plural: Round.objects.filter(question__in=ids).count(),
            Snapshot._meta.verbose_name_plural: Snapshot.objects.filter(question__in=ids).count(),
            ModelRun._meta.verbose_name_plural: ModelRun.objects.filter(question__in=ids).count(),
        }
        summary = [f"{count} {name}" for name, count in counts.items()]
        perms_needed = set()
        if not self.has_delete_permission(request):
            perms_needed.add(Question._meta.verbose_name)
        return summary, counts, perms_needed, []

    def _done(self, request, count, verb, total=None):
        level = messages.SUCCESS if count else messages.WARNING
        skipped = (
            f" ({total - count} skipped: not in a status that allows it)" if total and total > count else ""
        )
        self.message_user(request, f"{verb} {count} question{'s' if count != 1 else ''}{skipped}.", level)

    @admin.action(description="Publish selected drafts", permissions=["change"])
    def publish_selected(self, request, queryset):
        total = queryset.count()
        self._done(request, services.publish_many(queryset), "Published", total)

    @admin.action(description="Close selected questions (no more rounds)", permissions=["change"])
    def close_selected(self, request, queryset):
        total = queryset.count()
        self._done(request, services.close_many(queryset), "Closed", total)

    @admin.action(description="Run a forecast now (queued)", permissions=["change"])
    def run_now(self, request, queryset):
        from forecasts.tasks import run_question_now

        forecastable = queryset.forecastable().order_by()
        eligible = forecastable.count()
        # The least recently forecast first, so a second click moves on to the rest.
        ids = list(
            forecastable.annotate(last_slot=Max("rounds__slot_at"))
            .order_by(F("last_slot").asc(nulls_first=True), "pk")
            .values_list("pk", flat=True)[:RUN_NOW_LIMIT]
        )
        # Sent after the commit so a worker never looks for rows it cannot see yet.
        with transaction.atomic():
            for pk in ids:
                run_question_now.delay_on_commit(pk)
        total = queryset.count()
        self._done(request, len(ids), "Queued a forecast round for", total - (eligible - len(ids)))
        if eligible > len(ids):
            self.message_user(
                request,
                f"{eligible - len(ids)} more open questions were not queued: at most {RUN_NOW_LIMIT} per "
                "click, the least recently forecast first. Run the action again for the rest.",
                messages.WARNING,
            )

    @admin.action(description="Resolve selected as YES", permissions=["change"])
    def resolve_yes(self, request, queryset):
        total = queryset.count()
        self._done(request, services.resolve_many(queryset, True, user=request.user), "Resolved YES:", total)

    @admin.action(description="Resolve selected as NO", permissions=["change"])
    def resolve_no(self, request, queryset):
        total = queryset.count()
        self._done(request, services.resolve_many(queryset, False, user=request.user), "Resolved NO:", total)

    @admin.action(description="Annul selected questions", permissions=["change"])
    def annul_selected(self, request, queryset):
        total = queryset.count()
        self._done(request, services.annul_many(queryset, user=request.user), "Annulled", total)

    @admin.action(description="Un-resolve selected questions (back to closed)", permissions=["change"])
    def unresolve_selected(self, request, queryset):
        total = queryset.count()
        self._done(request, services.unresolve_many(queryset), "Un-resolved", total)
