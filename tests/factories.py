from datetime import timedelta

import factory
from django.utils import timezone

from forecasts.models import ModelRun, PanelModel, Round
from forecasts.services import close_round
from questions.models import Category, Question


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    title = factory.Sequence(lambda n: f"Will event number {n} happen by the end of 2027?")
    slug = factory.Sequence(lambda n: f"event-{n}")
    category = factory.SubFactory(CategoryFactory)
    background = "Some background."
    resolution_criteria = "Resolves YES if the event happens."
    status = Question.Status.OPEN
    published_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    resolves_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=365))


class PanelModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PanelModel
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Model {n}")
    model = factory.Sequence(lambda n: f"model-{n}")


class RoundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Round

    question = factory.SubFactory(QuestionFactory)
    slot_at = factory.LazyFunction(timezone.now)
    status = Round.Status.DONE


class ModelRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelRun

    round = factory.SubFactory(RoundFactory)
    question = factory.SelfAttribute("round.question")
    model_name = factory.Sequence(lambda n: f"Model {n}")
    status = ModelRun.Status.OK
    probability = 0.5
    rationale = "Because."
    answered_at = factory.SelfAttribute("round.slot_at")


def make_round(question, probabilities, when=None, failed=(), names=None):
    """A finished round with one ModelRun per probability (and per failed name) plus its Snapshot.

    probabilities: list of floats; names default to "Model A", "Model B", ...
    failed: names of models whose call failed (status provider_error).
    """
    when = when or timezone.now()
    names = names or [f"Model {chr(65 + i)}" for i in range(len(probabilities))]
    rnd = Round.objects.create(question=question, slot_at=when, status=Round.Status.RUNNING)
    for name, p in zip(names, probabilities, strict=True):
        ModelRun.objects.create(
            round=rnd,
            question=question,
            model_name=name,
            status=ModelRun.Status.OK,
            probability=p,
            rationale=f"{name} reasons.",
            answered_at=when,
        )
    for name in failed:
        ModelRun.objects.create(
            round=rnd,
            question=question,
            model_name=name,
            status=ModelRun.Status.PROVIDER_ERROR,
            error_message="HTTP 500",
            answered_at=when,
        )
    # The same single writer as live rounds.
    return rnd, close_round(rnd, taken_at=when)
