import re
from decimal import Decimal

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q


class PanelModelQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


# The worker sends os.environ[api_key_env] to base_url, so the name must look
# like a provider key's: never SECRET_KEY, DATABASE_URL or the like. \A and \Z
# rather than ^ and $: Python's $ also matches before a final newline, and
# SQLite checks this pattern with Python's re.
API_KEY_ENV_PATTERN = r"\A[A-Z][A-Z0-9_]*_API_KEY\Z"


class PanelModel(models.Model):
    """One seat on the forecasting panel: an OpenAI-compatible endpoint and model."""

    API_KEY_ENV_PATTERN = API_KEY_ENV_PATTERN

    class OutputMode(models.TextChoices):
        AUTO = "auto", "Auto (JSON schema, then JSON mode, then text)"
        JSON_SCHEMA = "json_schema", "JSON schema only"
        JSON_OBJECT = "json_object", "JSON mode only"
        TEXT = "text", "Plain text (JSON asked for in the prompt)"

    name = models.CharField(max_length=100, unique=True, help_text="Shown to readers, e.g. 'GPT-4o'.")
    model = models.CharField(
        max_length=200, help_text="The model id the provider expects, e.g. 'gpt-4o-2024-08-06'."
    )
    base_url = models.URLField(
        blank=True,
        max_length=500,
        help_text="OpenAI-compatible base URL ending in /v1. Empty: the OPENAI_BASE_URL variable, else OpenAI.",
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[
            RegexValidator(
                API_KEY_ENV_PATTERN,
                "A variable name in capitals ending in _API_KEY, e.g. ANTHROPIC_API_KEY.",
            )
        ],
        help_text="Name of the environment variable holding the API key (never the key itself), "
        "ending in _API_KEY. Empty: OPENAI_API_KEY.",
    )
    output_mode = models.CharField(max_length=12, choices=OutputMode.choices, default=OutputMode.AUTO)
    stream = models.BooleanField(default=False, help_text="Ask for a streamed reply.")
    timeout_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Per-attempt timeout. Empty: the site default (FORECAST_DEFAULT_TIMEOUT).",
    )
    max_tokens = models.PositiveIntegerField(
        default=1500, help_text="Completion token budget; doubled once when a reply is cut off."
    )
    temperature = models.FloatField(null=True, blank=True, help_text="Empty: the provider's default.")
    price_in_per_million = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0"), help_text="USD per million prompt tokens."
    )
    price_out_per_million = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0"), help_text="USD per million completion tokens."
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order of the model cards on the page.")
    is_active = models.BooleanField(default=True, help_text="Inactive models are not asked in new rounds.")

    objects = PanelModelQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                name="panelmodel_timeout_positive",
                condition=Q(timeout_seconds__isnull=True) | Q(timeout_seconds__gt=0),
            ),
            models.CheckConstraint(
                name="panelmodel_prices_non_negative",
                condition=Q(price_in_per_million__gte=0) & Q(price_out_per_million__gte=0),
            ),
            models.CheckConstraint(
                name="panelmodel_api_key_env_allowed",
                condition=Q(api_key_env="") | Q(api_key_env__regex=API_KEY_ENV_PATTERN),
                violation_error_message="The key variable must be a name in capitals ending in _API_KEY.",
            ),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def is_allowed_key_env(cls, name):
        return name == "" or re.search(cls.API_KEY_ENV_PATTERN, name) is not None

    def cost_usd(self, prompt_tokens, completion_tokens):
        if prompt_tokens is None and completion_tokens is None:
            return None
        million = Decimal(1_000_000)
        return (
            Decimal(prompt_tokens or 0) * self.price_in_per_million / million
            + Decimal(completion_tokens or 0) * self.price_out_per_million / million
        ).quantize(Decimal("0.000001"))


class Round(models.Model):
    """One question asked of the panel for one slot of its cadence.

    The unique (question, slot_at) pair is what makes a round happen at most
    once: a second dispatcher, a redelivered task or a re-run finds the row and
    stops before calling any provider.
    """

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "Run by an editor"
        IMPORTED = "imported", "Imported"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed: no model answered"

    question = models.ForeignKey("questions.Question", on_delete=models.CASCADE, related_name="rounds")
    slot_at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SCHEDULED)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker took this round.")
    label = models.CharField(
        max_length=200, blank=True, help_text="For imported rounds: where they came from."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        get_latest_by = "slot_at"
        constraints = [
            models.UniqueConstraint(fields=["question", "slot_at"], name="round_unique_question_slot"),
        ]
        indexes = [
            # Used to find rounds left behind by a worker that died.
            models.Index(
                fields=["claimed_at"], condition=Q(status__in=["pending", "running"]), name="round_unfinished"
            ),
        ]

    def __str__(self):
        return f"{self.question} @ {self.slot_at:%Y-%m-%d %H:%M}"


class ModelRunQuerySet(models.QuerySet):
    def ok(self):
        return self.filter(status=ModelRun.Status.OK)

    def failed(self):
        return self.exclude(status=ModelRun.Status.OK)


class ModelRun(models.Model):
    """One panel model's answer (or failure) in one round."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        UNPARSEABLE = "unparseable", "Unparseable reply"
        REFUSED = "refused", "Refused"
        TRUNCATED = "truncated", "Cut off at the token limit"
        TIMEOUT = "timeout", "Timed out"
        PROVIDER_ERROR = "provider_error", "Provider error"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="model_runs")
    question = models.ForeignKey("questions.Question", on_delete=models.CASCADE, related_name="model_runs")
    panel_model = models.ForeignKey(
        PanelModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_runs"
    )
    model_name = models.CharField(max_length=100, help_text="The panel seat's name when it answered.")
    status = models.CharField(max_length=16, choices=Status.choices)
    probability = models.FloatField(null=True, blank=True)
    was_percent = models.BooleanField(
        default=False, help_text="The model wrote a bare number above 1, read as a percentage."
    )
    rationale = models.TextField(blank=True)
    error_message = models.TextField(blank=True, help_text="For editors only; never shown to readers.")
    raw_output = models.TextField(blank=True)
    output_mode = models.CharField(max_length=12, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    answered_at = models.DateTimeField()
    is_imported = models.BooleanField(default=False)

    objects = ModelRunQuerySet.as_manager()

    class Meta:
        get_latest_by = "answered_at"
        constraints = [
            models.UniqueConstraint(fields=["round", "model_name"], name="modelrun_unique_round_model"),
            models.CheckConstraint(
                name="modelrun_probability_in_unit_interval",
                condition=Q(probability__isnull=True) | (Q(probability__gte=0) & Q(probability__lte=1)),
            ),
            models.CheckConstraint(
                name="modelrun_probability_iff_ok",
                condition=(Q(status="ok") & Q(probability__isnull=False))
                | (~Q(status="ok") & Q(probability__isnull=True)),
            ),
        ]
        indexes = [
            # The question page's model cards and the models page's records.
            models.Index(
                fields=["question", "model_name", "-answered_at"], name="modelrun_question_model_time"
            ),
            models.Index(fields=["model_name", "status"], name="modelrun_model_status"),
            # Spending per day and month in the admin.
            models.Index(fields=["answered_at"], name="modelrun_answered_at"),
        ]

    def __str__(self):
        return f"{self.model_name} @ {self.answered_at:%Y-%m-%d %H:%M}"

    @property
    def is_ok(self):
        return self.status == self.Status.OK


class SnapshotQuerySet(models.QuerySet):
    def for_question(self, question):
        return self.filter(question=question).order_by("taken_at")


class Snapshot(models.Model):
    """One round's aggregate for one question: a point on its trajectory.

    Written only when at least one model answered; figures are fractions in
    [0, 1] (the spread too: 0.13 is shown as "13pt spread").
    """

    question = models.ForeignKey("questions.Question", on_delete=models.CASCADE, related_name="snapshots")
    round = models.OneToOneField(Round, on_delete=models.CASCADE, related_name="snapshot")
    taken_at = models.DateTimeField()
    mean = models.FloatField()
    median = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()
    spread = models.FloatField(help_text="Maximum minus minimum, as a fraction.")
    models_ok = models.PositiveSmallIntegerField()
    models_failed = models.PositiveSmallIntegerField(default=0)
    is_imported = models.BooleanField(default=False)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        get_latest_by = "taken_at"
        constraints = [
            models.UniqueConstraint(fields=["question", "taken_at"], name="snapshot_unique_question_time"),
            models.CheckConstraint(
                name="snapshot_values_in_unit_interval",
                condition=Q(minimum__gte=0) & Q(maximum__lte=1) & Q(spread__gte=0) & Q(spread__lte=1),
            ),
            models.CheckConstraint(
                name="snapshot_values_ordered",
                condition=Q(minimum__lte=F("mean"))
                & Q(mean__lte=F("maximum"))
                & Q(minimum__lte=F("median"))
                & Q(median__lte=F("maximum")),
            ),
            models.CheckConstraint(name="snapshot_has_answers", condition=Q(models_ok__gte=1)),
        ]
        indexes = [
            models.Index(fields=["question", "-taken_at"], name="snapshot_question_time"),
            models.Index(fields=["-taken_at"], name="snapshot_time"),
        ]

    def __str__(self):
        return f"{self.question} @ {self.taken_at:%Y-%m-%d %H:%M}"

    @property
    def models_total(self):
        return self.models_ok + self.models_failed

    @property
    def spread_points(self):
        return round(self.spread * 100)
