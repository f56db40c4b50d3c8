"""Reading a probability out of what a model wrote.

Model output is untrusted text. Real replies come as clean JSON, JSON in a
markdown fence, JSON followed by prose, "Probability: 65%", a reasoning block
full of draft numbers followed by a final answer, a refusal, or a reply cut off
at the token limit. This module turns each into a status and, only for `ok`,
a probability in [0, 1]. It never substitutes a default value.
"""

import json
import math
import re
from dataclasses import dataclass

OK = "ok"
UNPARSEABLE = "unparseable"
REFUSED = "refused"
TRUNCATED = "truncated"


@dataclass(frozen=True)
class Parsed:
    status: str
    probability: float | None = None
    rationale: str = ""
    was_percent: bool = False
    problem: str = ""


# Reasoning models wrap their scratch work in these; numbers inside are drafts.
_REASONING_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_UNCLOSED_REASONING = re.compile(r"^\s*<(think|thinking|reasoning)>.*", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_NUMBER = r"([-+]?\d+(?:\.\d+)?|[-+]?\.\d+)"
# "Final probability: 71%", "Probability = 0.3", "probability of 65.5 %"
_LABELLED = re.compile(
    r"probability[^0-9\-+.\n]{0,30}?" + _NUMBER + r"\s*(%|percent)?",
    re.IGNORECASE,
)
_BARE = re.compile(r"^\s*" + _NUMBER + r"\s*(%)?\s*\.?\s*$")
_REFUSAL = re.compile(
    r"\b(I\s*(?:am|'m)\s+(?:sorry|unable|not able)|I\s+(?:can(?:no|')t|cannot|won't|will not)\s+"
    r"(?:help|provide|give|assist|predict|offer|estimate|comply)|as an ai\b)",
    re.IGNORECASE,
)
_PROBABILITY_KEYS = ("probability", "prob", "p", "forecast", "probability_yes", "answer")
_RATIONALE_KEYS = ("rationale", "reasoning", "explanation", "reason")


def strip_reasoning(text):
    text = _REASONING_BLOCK.sub(" ", text)
    # A reasoning block never closed (cut off) hides no final answer.
    return _UNCLOSED_REASONING.sub("", text)


def _json_objects(text):
    """Every top-level JSON object in the text, fenced ones first."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                obj, end = decoder.raw_decode(candidate, start)
            except ValueError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                yield obj
            start = candidate.find("{", end)


def to_probability(value):
    """(probability, was_percent, problem) from a JSON value or a matched string.

    "65%" and 0.655 are the same answer; a bare number above 1 and up to 100
    is read as a percentage and flagged; anything outside [0, 100] is refused,
    never clamped.
    """
    explicit_percent = False
    if isinstance(value, bool) or value is None:
        return None, False, f"probability is {value!r}"
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            explicit_percent = True
            text = text[:-1].strip()
        try:
            number = float(text)
        except ValueError:
            return None, False, f"probability {value!r} is not a number"
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None, False, f"probability has type {type(value).__name__}"
    if not math.isfinite(number):
        return None, False, f"probability {value!r} is not finite"
    if explicit_percent:
        if not 0 <= number <= 100:
            return None, False, f"probability {value!r} is out of range"
        return number / 100, False, ""
    if 0 <= number <= 1:
        return number, False, ""
    if 1 < number <= 100:
        return number / 100, True, ""
    return None, False, f"probability {value!r} is out of range"


def _from_object(obj):
    for key in _PROBABILITY_KEYS:
        if key in obj:
            probability, was_percent, problem = to_probability(obj[key])
            rationale = ""
            for rkey in _RATIONALE_KEYS:
                if isinstance(obj.get(rkey), str):
                    rationale = obj[rkey].strip()
                    break
            return probability, was_percent, problem, rationale
    return None


def parse_reply(content, finish_reason=None, refusal=None):
    """Classify one reply; `content` is choices[0].message.content."""
    if refusal:
        return Parsed(REFUSED, rationale=str(refusal).strip(), problem="the model refused")
    if finish_reason == "length":
        # Even a readable number in a cut-off reply is not the model's answer.
        return Parsed(TRUNCATED, problem="the reply was cut off at the token limit")
    if content is None or not str(content).strip():
        return Parsed(UNPARSEABLE, problem="the reply was empty")
    text = str(content)
    visible = strip_reasoning(text)

    for obj in _json_objects(visible):
        found = _from_object(obj)
        if found is None:
            continue
        probability, was_percent, problem, rationale = found
        if probability is None:
            return Parsed(UNPARSEABLE, problem=problem)
        return Parsed(OK, probability=probability, rationale=rationale, was_percent=was_percent)

    # A reply that is only a number ("0.35", "0%") is the answer itself.
    bare = _BARE.match(visible)
    if bare:
        probability, was_percent, problem = to_probability(bare.group(1) + ("%" if bare.group(2) else ""))
        if probability is None:
            return Parsed(UNPARSEABLE, problem=problem)
        return Parsed(OK, probability=probability, was_percent=was_percent)

    # The last labelled figure is the final answer; earlier ones are drafts.
    matches = list(_LABELLED.finditer(visible))
    if matches:
        match = matches[-1]
        raw = match.group(1) + ("%" if match.group(2) else "")
        probability, was_percent, problem = to_probability(raw)
        if probability is None:
            return Parsed(UNPARSEABLE, problem=problem)
        rationale = (visible[: match.start()] + visible[match.end() :]).strip()
        rationale = re.sub(r"\s*(final\s*)?$", "", rationale, flags=re.IGNORECASE).strip()
        return Parsed(OK, probability=probability, rationale=rationale, was_percent=was_percent)

    if _REFUSAL.search(visible):
        return Parsed(REFUSED, rationale=visible.strip(), problem="the model refused")
    return Parsed(UNPARSEABLE, problem="no probability found in the reply")


def excerpt(text, limit=200):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
