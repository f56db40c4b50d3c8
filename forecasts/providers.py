"""Asking one panel model through the openai client, with one bounded retry layer.

This module never touches the database: a round calls `ask` from worker
threads with a plain `Seat`, and records the `Answer` itself.
"""

import functools
import logging
import os
import random
import re
import time
from dataclasses import dataclass, field

import httpx2
import openai
from django.conf import settings

from . import parsing

logger = logging.getLogger(__name__)

TIMEOUT = "timeout"
PROVIDER_ERROR = "provider_error"

SYSTEM_PROMPT = (
    "You are a careful forecaster. Estimate the probability that the question below resolves YES. "
    "Reason from base rates and current evidence, and be calibrated: 0 and 1 mean certainty."
)
ANSWER_INSTRUCTIONS = (
    'Reply with a JSON object and nothing else: {"probability": <a number from 0 to 1>, '
    '"rationale": "<your reasoning in a few sentences>"}.'
)
FORECAST_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "forecast",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "probability": {"type": "number", "description": "Probability of YES, from 0 to 1."},
                "rationale": {"type": "string"},
            },
            "required": ["probability", "rationale"],
            "additionalProperties": False,
        },
    },
}
MODES_IN_ORDER = ("json_schema", "json_object", "text")
# Provider keys look like this; they are removed from anything we store or log.
_KEY_PATTERN = re.compile(r"\b(sk|rk|pk|key)-[A-Za-z0-9_\-*]{6,}")


@dataclass(frozen=True)
class Seat:
    """A panel model's settings, read from the database before threads start."""

    name: str
    model: str
    base_url: str = ""
    api_key_env: str = ""
    output_mode: str = "auto"
    stream: bool = False
    timeout: float | None = None
    max_tokens: int = 1500
    temperature: float | None = None

    @classmethod
    def from_panel_model(cls, pm):
        return cls(
            name=pm.name,
            model=pm.model,
            base_url=pm.base_url,
            api_key_env=pm.api_key_env,
            output_mode=pm.output_mode,
            stream=pm.stream,
            timeout=pm.timeout_seconds,
            max_tokens=pm.max_tokens,
            temperature=pm.temperature,
        )

    def api_key(self):
        from .models import PanelModel

        # The database refuses other names too; this guards seats built by
        # hand or rows written around the constraint.
        if not PanelModel.is_allowed_key_env(self.api_key_env):
            logger.error("Seat %s names a key variable outside the allowed names; no key sent.", self.name)
            return ""
        return os.environ.get(self.api_key_env or "OPENAI_API_KEY", "")

    def per_attempt_timeout(self):
        # An unset or empty timeout means the site default, never "wait forever".
        if self.timeout and self.timeout > 0:
            return float(self.timeout)
        return float(settings.FORECAST_DEFAULT_TIMEOUT)


@dataclass
class Answer:
    status: str
    probability: float | None = None
    rationale: str = ""
    was_percent: bool = False
    error_message: str = ""
    raw_output: str = ""
    output_mode: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int = 0
    attempts: int = 0
    log: list = field(default_factory=list)


def build_messages(question, today):
    lines = [f"Question: {question.title}"]
    if question.background:
        lines.append(f"Background: {question.background}")
    if question.resolution_criteria:
        lines.append(f"Resolution criteria: {question.resolution_criteria}")
    if question.resolves_at:
        lines.append(f"Resolution date: {question.resolves_at:%Y-%m-%d}")
    lines.append(f"Today's date: {today:%Y-%m-%d}")
    lines.append("")
    lines.append(ANSWER_INSTRUCTIONS)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def redact(text, seat=None):
    text = str(text or "")
    key = seat.api_key() if seat else ""
    if key and len(key) >= 6:
        text = text.replace(key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def _modes_for(seat):
    if seat.output_mode in MODES_IN_ORDER:
        return [seat.output_mode]
    return list(MODES_IN_ORDER)


def _request_kwargs(seat, mode, max_tokens, timeout):
    kwargs = {"model": seat.model, "max_tokens": max_tokens, "timeout": timeout}
    if seat.temperature is not None:
        kwargs["temperature"] = seat.temperature
    if mode == "json_schema":
        kwargs["response_format"] = FORECAST_SCHEMA
    elif mode == "json_object":
        kwargs["response_format"] = {"type": "json_object"}
    if seat.stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def _read_stream(stream):
    """Join a streamed reply; chunks without choices (the usage chunk) are fine."""
    parts, finish_reason, refusal, usage = [], None, None, None
    for chunk in stream:
        if getattr(chunk, "usage", None):
            usage = chunk.usage
        for choice in chunk.choices or []:
            delta = choice.delta
            if delta is not None and delta.content:
                parts.append(delta.content)
            if delta is not None and getattr(delta, "refusal", None):
                refusal = (refusal or "") + delta.refusal
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    content = "".join(parts) if parts else None
    return content, finish_reason, refusal, usage


def _read_completion(completion):
    """(content, finish_reason, refusal, usage, error) from a non-streamed reply."""
    choices = getattr(completion, "choices", None) or []
    if not choices:
        # Some routers report upstream failures as an error object in a 200.
        extra = getattr(completion, "model_extra", None) or {}
        error = extra.get("error") or "the reply had no choices"
        return None, None, None, getattr(completion, "usage", None), error
    choice = choices[0]
    message = choice.message
    return (
        message.content if message else None,
        choice.finish_reason,
        getattr(message, "refusal", None) if message else None,
        completion.usage,
        None,
    )


def _is_mode_rejection(error):
    text = f"{getattr(error, 'message', '')} {getattr(error, 'body', '')}".lower()
    return "response_format" in text or "json_schema" in text or "json_object" in text


def _retry_after(error):
    response = getattr(error, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _is_spent_quota(error):
    text = (
        f"{getattr(error, 'code', '')} {getattr(error, 'message', '')} {getattr(error, 'body', '')}".lower()
    )
    return "insufficient_quota" in text or "quota" in text and "exceeded" in text


def backoff_delay(retry, retry_after=None):
    """Exponential backoff with full jitter, so a provider outage is not hammered in lockstep."""
    base = settings.FORECAST_BACKOFF_BASE
    ceiling = min(settings.FORECAST_BACKOFF_MAX, base * (2**retry))
    delay = random.uniform(base / 2, max(base / 2, ceiling)) if base > 0 else 0.0
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.FORECAST_BACKOFF_MAX))
    return delay


def ask(seat, messages, deadline, client_factory=None):
    """Ask one model for a forecast, never raising: every outcome is an Answer.

    deadline: a time.monotonic() value after which no new attempt starts.
    """
    started = time.monotonic()
    modes = _modes_for(seat)
    mode_index = 0
    max_tokens = seat.max_tokens
    retries = 0
    truncation_retried = False
    answer = Answer(status=PROVIDER_ERROR)
    client = (client_factory or _make_client)(seat)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                answer.status = TIMEOUT
                answer.error_message = (
                    answer.error_message or "the round's deadline passed before an answer came"
                )
                break
            mode = modes[mode_index]
            answer.attempts += 1
            answer.output_mode = mode
            timeout = min(seat.per_attempt_timeout(), remaining)
            transient = None
            try:
                kwargs = _request_kwargs(seat, mode, max_tokens, timeout)
                result = client.chat.completions.create(messages=messages, **kwargs)
                if seat.stream:
                    content, finish_reason, refusal, usage = _read_stream(result)
                    error = (
                        None if content is not None or refusal or finish_reason else "the stream was empty"
                    )
                else:
                    content, finish_reason, refusal, usage, error = _read_completion(result)
            except openai.BadRequestError as exc:
                if _is_mode_rejection(exc) and mode_index + 1 < len(modes):
                    answer.log.append(f"{mode} refused by the provider; trying {modes[mode_index + 1]}")
                    mode_index += 1
                    continue
                answer.status, answer.error_message = PROVIDER_ERROR, f"HTTP 400: {exc.message}"
                break
            except openai.RateLimitError as exc:
                if _is_spent_quota(exc):
                    answer.status, answer.error_message = (
                        PROVIDER_ERROR,
                        f"HTTP 429 (quota spent): {exc.message}",
                    )
                    break
                transient = (PROVIDER_ERROR, f"HTTP 429: {exc.message}", _retry_after(exc))
            except openai.APITimeoutError:
                transient = (TIMEOUT, f"no reply within {timeout:.0f} s", None)
            except openai.APIConnectionError as exc:
                transient = (PROVIDER_ERROR, f"connection failed: {exc}", None)
            except openai.APIStatusError as exc:
                code = exc.status_code
                if code in (408, 409) or code >= 500:
                    transient = (PROVIDER_ERROR, f"HTTP {code}: {exc.message}", _retry_after(exc))
                else:
                    # 401, 403, 404, 422...: asking again would get the same answer.
                    answer.status, answer.error_message = PROVIDER_ERROR, f"HTTP {code}: {exc.message}"
                    break
            except openai.OpenAIError as exc:
                answer.status, answer.error_message = PROVIDER_ERROR, f"{type(exc).__name__}: {exc}"
                break
            except ValueError as exc:
                # The client decodes the body itself and lets a JSONDecodeError
                # through: a 200 whose body was cut or mangled on the way.
                transient = (PROVIDER_ERROR, f"the reply body was not valid JSON: {exc}", None)
            else:
                if error is not None:
                    transient = (PROVIDER_ERROR, f"error in the reply: {error}", None)
                else:
                    if usage is not None:
                        answer.prompt_tokens = getattr(usage, "prompt_tokens", None)
                        answer.completion_tokens = getattr(usage, "completion_tokens", None)
                    answer.raw_output = content if content is not None else (refusal or "")
                    parsed = parsing.parse_reply(content, finish_reason, refusal)
                    if parsed.status == parsing.TRUNCATED and not truncation_retried:
                        truncation_retried = True
                        answer.log.append(
                            f"cut off at {max_tokens} tokens; asking once more with {max_tokens * 2}"
                        )
                        max_tokens *= 2
                        continue
                    answer.status = parsed.status
                    answer.probability = parsed.probability
                    answer.rationale = parsed.rationale
                    answer.was_percent = parsed.was_percent
                    if parsed.status != parsing.OK:
                        answer.error_message = f"{parsed.problem}: {parsing.excerpt(content or refusal)}"
                    break

            status, message, retry_after = transient
            answer.status, answer.error_message = status, message
            if retries >= settings.FORECAST_MAX_RETRIES:
                break
            delay = backoff_delay(retries, retry_after)
            if time.monotonic() + delay >= deadline:
                break
            answer.log.append(f"{message}; retrying in {delay:.1f} s")
            retries += 1
            time.sleep(delay)
    finally:
        close = getattr(client, "close", None)
        if close:
            close()
    answer.latency_ms = int((time.monotonic() - started) * 1000)
    answer.error_message = redact(answer.error_message, seat)
    answer.raw_output = redact(answer.raw_output, seat)
    # The rationale is shown to readers: a key echoed into the reply must not reach them.
    answer.rationale = redact(answer.rationale, seat)
    if answer.status != parsing.OK:
        logger.warning(
            "%s: %s after %d attempt(s): %s", seat.name, answer.status, answer.attempts, answer.error_message
        )
    return answer


@functools.cache
def _tls_context():
    # Loading the CA bundle costs about 0.1 s of CPU; built once, it serves every client.
    return httpx2.create_ssl_context()


def _make_client(seat):
    return openai.OpenAI(
        # None lets the client read OPENAI_BASE_URL itself.
        base_url=seat.base_url or None,
        # Local servers (vLLM, Ollama, the replay server) need no key, but the
        # client refuses to start without one.
        api_key=seat.api_key() or "no-key-configured",
        max_retries=0,
        timeout=seat.per_attempt_timeout(),
        http_client=openai.DefaultHttpxClient(verify=_tls_context()),
    )
