from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0, help_text="Lower numbers are listed first.")

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("questions:category", kwargs={"slug": self.slug})


class QuestionQuerySet(models.QuerySet):
    def published(self):
        """What readers may see: everything but drafts, once its publication time has come."""
        return self.exclude(status=Question.Status.DRAFT).filter(
            published_at__isnull=False, published_at__lte=timezone.now()
        )

    def open(self):
        return self.filter(status=Question.Status.OPEN)

    def resolved(self):
        return self.filter(status=Question.Status.RESOLVED)

    def in_category(self, category):
        return self.filter(category=category)

    def forecastable(self, now=None):
        """Open questions that may still receive rounds: published, not past closing."""
        now = now or timezone.now()
        return (
            self.open()
            .filter(published_at__isnull=False, published_at__lte=now)
            .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
        )

    def with_latest_snapshot(self):
        """Annotate the latest round's aggregate without one query per question."""
        from forecasts.models import Snapshot

        latest = Snapshot.objects.filter(question=OuterRef("pk")).order_by("-taken_at")
        return self.annotate(
            latest_mean=Subquery(latest.values("mean")[:1]),
            latest_spread=Subquery(latest.values("spread")[:1]),
            latest_models_ok=Subquery(latest.values("models_ok")[:1]),
            latest_models_failed=Subquery(latest.values("models_failed")[:1]),
            latest_taken_at=Subquery(latest.values("taken_at")[:1]),
            previous_mean=Subquery(latest.values("mean")[1:2]),
        )


class Question(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        RESOLVED = "resolved", "Resolved"
        ANNULLED = "annulled", "Annulled"

    title = models.CharField(max_length=300)
    slug = models.SlugField(max_length=200, unique=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="questions")
    background = models.TextField(blank=True, help_text="Context the models and readers need. Plain text.")
    resolution_criteria = models.TextField(
        blank=True, help_text="Exactly what makes this question resolve YES or NO."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    outcome = models.BooleanField(
        null=True, blank=True, help_text="YES (true) or NO (false); set only when the question is resolved."
    )
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When readers may first see the question."
    )
    closes_at = models.DateTimeField(
        null=True, blank=True, help_text="No rounds are run after this time. Empty: until resolved."
    )
    resolves_at = models.DateTimeField(
        null=True, blank=True, help_text="When the outcome is expected to be known (the question's deadline)."
    )
    resolved_at = models.DateTimeField(
        null=True, blank=True, help_text="When an editor resolved the question."
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True, help_text="Why it resolved this way, for readers.")
    resolution_source = models.URLField(
        blank=True, max_length=500, help_text="A link that shows the outcome."
    )
    cadence_hours = models.PositiveIntegerField(
        default=24, help_text="How often the panel is asked, in hours (24 = once a day)."
    )
    source = models.CharField(
        max_length=50, blank=True, help_text="Where an imported question came from, e.g. metaculus."
    )
    source_id = models.CharField(max_length=100, blank=True, help_text="The question's id at its source.")
    source_url = models.URLField(blank=True, max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = QuestionQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="question_outcome_iff_resolved",
                condition=(Q(status="resolved") & Q(outcome__isnull=False))
                | (~Q(status="resolved") & Q(outcome__isnull=True)),
            ),
            models.CheckConstraint(name="question_cadence_positive", condition=Q(cadence_hours__gte=1)),
            # The lifecycle's invariants; questions.services holds its transitions.
            models.CheckConstraint(
                name="question_status_valid",
                condition=Q(status__in=["draft", "open", "closed", "resolved", "annulled"]),
            ),
            models.CheckConstraint(
                name="question_published_has_date",
                condition=Q(status="draft") | Q(published_at__isnull=False),
            ),
            models.CheckConstraint(
                name="question_resolution_stamp_only_when_decided",
                condition=Q(status__in=["resolved", "annulled"])
                | (Q(resolved_at__isnull=True) & Q(resolved_by__isnull=True)),
            ),
            models.CheckConstraint(
                name="question_closes_after_published",
                condition=Q(closes_at__isnull=True)
                | Q(published_at__isnull=True)
                | Q(closes_at__gte=F("published_at")),
            ),
            models.UniqueConstraint(
                fields=["source", "source_id"],
                condition=~Q(source_id=""),
                name="question_unique_source_id",
            ),
        ]
        indexes = [
            models.Index(fields=["category", "status", "-published_at"], name="question_cat_status_pub"),
            # Used by the dispatcher that looks for open questions due a round.
            models.Index(fields=["closes_at"], condition=Q(status="open"), name="question_open_closes"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("questions:detail", kwargs={"slug": self.slug})

    @property
    def is_resolved(self):
        return self.status == self.Status.RESOLVED

    @property
    def outcome_label(self):
        if self.outcome is None:
            return ""
        return "YES" if self.outcome else "NO"

    @property
    def status_label(self):
        if self.is_resolved:
            return f"Resolved {self.outcome_label}"
        return self.get_status_display()

    def current_slot(self, now=None):
        """The start of the cadence slot containing `now`: every scheduler computes the same one."""
        now = now or timezone.now()
        step = int(timedelta(hours=self.cadence_hours).total_seconds())
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)
