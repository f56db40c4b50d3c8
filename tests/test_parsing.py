import math

import pytest

from forecasts.parsing import OK, REFUSED, TRUNCATED, UNPARSEABLE, parse_reply

FENCE = "```"


@pytest.mark.parametrize(
    "content",
    [
        FENCE + 'json\n{"probability": 0.35, "rationale": "Base rate is low."}\n' + FENCE,
        '{"probability": 0.35, "rationale": "Base rate is low."}\nThat is my estimate.',
        'Here you go: {"probability": 0.35, "rationale": "Base rate is low."}',
    ],
)
def test_it_reads_json_in_a_fence_or_followed_by_prose(content):
    parsed = parse_reply(content, "stop")
    assert parsed.status == OK
    assert parsed.probability == 0.35
    assert parsed.rationale == "Base rate is low."


@pytest.mark.parametrize(
    "content, expected, was_percent",
    [
        ("Probability: 65.5%", 0.655, False),
        ('{"probability": 0.655, "rationale": "x"}', 0.655, False),
        ('{"probability": 65, "rationale": "x"}', 0.65, True),
        ('{"probability": "55%", "rationale": "x"}', 0.55, False),
        ('{"probability": 0, "rationale": "x"}', 0.0, False),
        ('{"probability": 1.0, "rationale": "x"}', 1.0, False),
        ("0%", 0.0, False),
        ("0.35", 0.35, False),
    ],
)
def test_percent_and_fraction_forms_give_the_same_number(content, expected, was_percent):
    parsed = parse_reply(content, "stop")
    assert parsed.status == OK
    assert math.isclose(parsed.probability, expected)
    assert parsed.was_percent is was_percent


def test_a_bare_percentage_with_a_label_is_zero_not_missing():
    parsed = parse_reply("Probability: 0%", "stop")
    assert parsed.status == OK and parsed.probability == 0.0


@pytest.mark.parametrize(
    "content",
    [
        '{"probability": 140, "rationale": "x"}',
        '{"probability": -0.1, "rationale": "x"}',
        '{"probability": "NaN", "rationale": "x"}',
        '{"probability": "Infinity", "rationale": "x"}',
        "Probability: 140%",
    ],
)
def test_out_of_range_and_non_finite_values_are_rejected_not_clamped(content):
    parsed = parse_reply(content, "stop")
    assert parsed.status == UNPARSEABLE
    assert parsed.probability is None


def test_reasoning_block_drafts_are_ignored_for_the_final_answer():
    content = (
        "<think>Base rate maybe 30%. Probability: 0.2 at first, then 45%...</think>\n"
        "Weighing it all, the trend is strong.\nFinal probability: 71%"
    )
    parsed = parse_reply(content, "stop")
    assert parsed.status == OK
    assert parsed.probability == 0.71
    assert "trend is strong" in parsed.rationale
    assert "<think>" not in parsed.rationale


def test_a_refusal_field_is_a_refusal_not_a_number():
    parsed = parse_reply(None, "stop", refusal="I can't help with predicting that.")
    assert parsed.status == REFUSED
    assert parsed.probability is None
    assert "can't help" in parsed.rationale


def test_a_refusal_in_plain_content_is_a_refusal():
    parsed = parse_reply("I'm sorry, but I can't give a probability for this question.", "stop")
    assert parsed.status == REFUSED
    assert parsed.probability is None


@pytest.mark.parametrize("content", ['{"probability": 0.4, "rationale": "The committee has not yet', None])
def test_a_reply_cut_off_at_the_token_limit_is_truncated_even_with_a_number(content):
    parsed = parse_reply(content, "length")
    assert parsed.status == TRUNCATED
    assert parsed.probability is None


def test_a_reply_without_json_or_probability_is_unparseable():
    parsed = parse_reply("The future is uncertain and many factors matter.", "stop")
    assert parsed.status == UNPARSEABLE
    assert parsed.probability is None
