"""Judge configuration: arguments first, then the environment, defaults together here."""

from __future__ import annotations

import os
import re
from typing import Literal, TypedDict, Unpack
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from judgekit._errors import ConfigError

DEFAULT_CONCURRENCY = 16
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_RETRIES = 6
DEFAULT_RETRY_DEADLINE_S = 60.0
"""Seconds a record's retries may go on past `max_retries` (a short outage loses nothing)."""
DEFAULT_MAX_RETRY_WAIT_S = 300.0
"""The longest Retry-After a run waits; a server asking for more stops the run."""
DEFAULT_MAX_REPLY_BYTES = 4 << 20
"""The largest reply body read (after decompression); a larger one is that record's error."""
CHARS_PER_TOKEN = 4
"""Rough token estimate (dry runs, flow control) before the endpoint counts them."""
OPENAI_BASE_URL = "https://api.openai.com/v1"
"""The endpoint when none is configured (`base_url` None)."""
LOCAL_API_KEY = "not-needed"
"""Sent to endpoints that need no key (vLLM, Ollama) because the SDK insists on one."""

RequestMode = Literal["json_schema", "json_object_schema", "json_object", "text"]
"""How a request asks for the reply's format: a JSON schema, JSON with the schema beside it
(llama.cpp, TGI), any JSON, or nothing (the prompt carries the format); docs/servers.md."""
OutputMode = Literal["auto", "json_schema", "json_object_schema", "json_object", "text"]
Transport = Literal["aiohttp", "sdk"]


class JudgeConfig(BaseModel):
    """Everything about how to reach the judge; the API key never appears in reprs or logs."""

    # Inputs stay out of validation errors: a base_url or api_key may hold a secret.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    model: str | None = None
    """Judge model name; `JUDGEKIT_MODEL` if not given."""
    base_url: str | None = None
    """OpenAI-compatible endpoint (`OPENAI_BASE_URL`); None means OpenAI itself."""
    api_key: SecretStr | None = None
    """`OPENAI_API_KEY` if not given; never logged, written or cached."""
    api_version: str | None = None
    """Set for Azure OpenAI: `base_url` is then the Azure endpoint."""
    transport: Transport = "aiohttp"
    """`aiohttp` posts directly (fast); `sdk` goes through the openai SDK."""
    output_mode: OutputMode = "auto"
    """A RequestMode for every request, or `auto`: json_schema, then json_object with the schema,
    then json_object, then text, stepping down once per run when the endpoint rejects a
    `response_format` (whatever the status: 400, 422, or a 500 whose body names it)."""
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1)
    """Requests in flight at once (at most: bursts of 429 lower it for a while)."""
    rpm: float | None = Field(default=None, gt=0)
    """Requests-per-minute budget; the endpoint's `x-ratelimit-*` headers can only lower it."""
    tpm: float | None = Field(default=None, gt=0)
    """Tokens-per-minute budget, corrected by each reply's usage."""
    budget_share: float = Field(default=1.0, gt=0, le=1)
    """The fraction of the RPM/TPM budgets (configured and announced by the endpoint) this judge
    spends: 0.5 for each of two runs sharing one account. A run's worker processes split theirs."""
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    """Per-request timeout."""
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0)
    """Retries of a retryable failure (429, 5xx, timeouts) before the record gets `api_error`
    (but see `retry_deadline_s`); 0 retries nothing."""
    retry_deadline_s: float = Field(default=DEFAULT_RETRY_DEADLINE_S, ge=0)
    """Seconds from a record's first attempt during which it is retried even past `max_retries`,
    so a short outage loses no record; a long one trips the circuit breaker and stops the run."""
    max_retry_wait_s: float = Field(default=DEFAULT_MAX_RETRY_WAIT_S, gt=0)
    """The longest Retry-After the run obeys; an endpoint asking for longer stops the run (exit 3)
    with the time to resume."""
    max_reply_bytes: int = Field(default=DEFAULT_MAX_REPLY_BYTES, ge=1024)
    """The largest reply body read, after decompression; a larger reply is that record's
    `api_error` with its size."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """Overrides the rubric's generation temperature."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Overrides the rubric's generation max_tokens."""
    logprobs: bool = False
    """Ask for token logprobs and record the probability-weighted `expected_score`."""
    keep_raw: bool = False
    """Keep the judge's raw reply in every verdict, not only in failed ones."""
    include_input: bool = False
    """Copy the record's input fields into its verdict (`input`)."""

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        if value is not None and (problem := url_credentials_problem(value)):
            raise ValueError(problem)
        return value


class JudgeOptions(TypedDict, total=False):
    """The keyword options of `score()`, `Judge()` and `score_file()`, documented in JudgeConfig.

    JudgeConfig's fields but the endpoint's three (model, base_url, api_key), which are explicit
    arguments.
    """

    api_version: str | None
    transport: Transport
    output_mode: OutputMode
    concurrency: int
    rpm: float | None
    tpm: float | None
    budget_share: float
    timeout_s: float
    max_retries: int
    retry_deadline_s: float
    max_retry_wait_s: float
    max_reply_bytes: int
    temperature: float | None
    max_tokens: int | None
    logprobs: bool
    keep_raw: bool
    include_input: bool


def resolve_config(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    **options: Unpack[JudgeOptions],
) -> JudgeConfig:
    """Build a JudgeConfig from arguments, falling back to the environment."""
    key = api_key or os.environ.get("OPENAI_API_KEY") or None
    url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    if url is not None and (problem := url_credentials_problem(url)):
        raise ConfigError(problem, option="base_url")
    try:
        return JudgeConfig(
            model=model or os.environ.get("JUDGEKIT_MODEL") or None,
            base_url=url,
            api_key=SecretStr(key) if key else None,
            **options,
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}" for detail in error.errors()
        )
        raise ConfigError(f"invalid judge option(s): {problems}") from None


def require_endpoint(config: JudgeConfig, rubric_name: str) -> None:
    """Fail at once, saying how to configure a judge, when an LLM rubric has none."""
    if config.model and (config.base_url or config.api_key):
        return
    missing = []
    if not config.model:
        missing.append("a judge model (model=... / --model, or JUDGEKIT_MODEL)")
    if not (config.base_url or config.api_key):
        missing.append(
            "an endpoint (base_url=... / --base-url or OPENAI_BASE_URL for vLLM, "
            "Ollama or another OpenAI-compatible server; or OPENAI_API_KEY for OpenAI)"
        )
    raise ConfigError(
        f"rubric '{rubric_name}' needs an LLM judge, but judgekit is missing "
        + " and ".join(missing)
        + ". To judge offline with no LLM, use rubric 'refusal-keywords'."
    )


def url_credentials_problem(url: str) -> str | None:
    """Why `url` cannot be an endpoint (it holds a user name or password), or None.

    The message never repeats the URL: its credentials would travel with it into logs.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # not a URL at all: the transport reports it
    if parts.username is None and parts.password is None:
        return None
    where = f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"
    return (
        f"the endpoint URL ({where}...) holds credentials (user:password@); judgekit never sends or "
        "writes them: remove them from --base-url / OPENAI_BASE_URL and pass the key in OPENAI_API_KEY"
    )


REDACTED = "[redacted]"
_TOKEN_SHAPES = re.compile(
    r"(?i)\b(bearer|basic|api[-_ ]?key[\"':= ]+)\s*[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-[A-Za-z0-9_-]{12,}"
)


def redact(text: str, *secrets: SecretStr | str | None) -> str:
    """`text` with every `secret` (8 characters or more) and anything shaped like a token redacted.

    For error texts from a server, which may echo the key it was sent (`Bearer sk-...`).
    """
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if value and len(value) >= 8 and value in text:
            text = text.replace(value, REDACTED)
    if "sk-" in text or any(word in text.lower() for word in ("bearer", "basic", "key")):
        text = _TOKEN_SHAPES.sub(lambda match: _redacted_token(match), text)
    return text


def _redacted_token(match: re.Match[str]) -> str:
    prefix = match.group(1)
    return f"{prefix.rstrip()} {REDACTED}" if prefix else REDACTED
