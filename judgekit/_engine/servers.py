"""What OpenAI-compatible servers accept for structured output and logprobs, as data.

The output-mode ladder (`--output-mode auto`) climbs down `GENERIC.modes` and knows a refusal by
`GENERIC.rejection`, which covers every kind's; the other entries document the servers.
One frozen `ServerKind` per server; `modes` lists the output modes it takes, most preferred
first, and `rejection` how it says no to a `response_format` it does not take. `GENERIC` is the
ladder for an endpoint of unknown kind. The entries marked *probed* were measured against a real
server here (see docs/servers.md); the others come from these sources (stored copies, read
2026-12):

- OpenAI: the Chat Completions reference for `response_format` and `logprobs`/`top_logprobs`.
- Azure OpenAI: `json_schema` needs api-version 2024-08-01-preview or later, else 400 "response_format
  value as json_schema is enabled only for api versions 2024-08-01-preview and later"
  (langgenius/dify#8994, Azure/azure-sdk-for-net#46579); logprobs from 2024-03-01-preview
  (MicrosoftDocs/azure-docs#121243), older versions 400 "Unrecognized request argument supplied:
  logprobs" (BerriAI/litellm#1194), top_logprobs capped at 5 (confident-ai/deepeval#1261).
- vLLM: docs "Structured Outputs" (v0.6-v0.12: `guided_json` extra body; removed in v0.12.0 for
  `structured_outputs: {"json": ...}`), `response_format` json_schema/json_object; errors are
  400 BadRequestError (vllm-project/vllm#12886), a malformed `response_format` gave 500 with an
  empty message (vllm-project/vllm#35438).
- Ollama: docs "OpenAI compatibility" (JSON mode; `json_schema` honoured since v0.5 through
  llama.cpp grammars; Ollama Cloud accepts it without enforcing it, pydantic/pydantic-ai#4917);
  logprobs on /v1 since v0.12.11 (ollama/ollama#16867), dropped silently before (ollama/ollama#16117).
- LM Studio: docs "Structured Output" (json_schema only); `json_object` gives 400
  `{"error":"'response_format.type' must be 'json_schema' or 'text'"}`
  (lmstudio-ai/lmstudio-bug-tracker#189, willmiao/ComfyUI-Lora-Manager#1033).
- TGI: docs "Guidance": `{"type": "json_object", "value": <schema>}` (a schema is required:
  422 "Failed to deserialize the JSON body into the target type: response_format: missing field
  `value`", huggingface/text-generation-inference#2899); `json_schema` with `value` since
  huggingface/text-generation-inference#3046; OpenAI-format logprobs (#1682).
- llama.cpp's llama-server: `json_schema` since ggml-org/llama.cpp#9527 (2024-09); before it 500
  'response_format type must be one of "text" or "json_object", but got: json_schema'
  (ikawrakow/ik_llama.cpp#778); `json_object` takes a `schema` (server-common.cpp,
  ggml-org/llama.cpp#10732); errors are `{"error": {"code", "message", "type"}}`.
- llama-cpp-python's server (`python -m llama_cpp.server`): *probed*, version in docs/servers.md;
  `json_object` with `schema` from abetlen/llama-cpp-python#1122; `json_schema` not accepted
  (abetlen/llama-cpp-python#1677 open; ggml-org/llama.cpp#23463 reports the same HTTP 500).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FormatMode = Literal["json_schema", "json_object_schema", "json_object", "guided_json", "text"]
"""How the reply's format is asked for.

`json_schema`: `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}` (OpenAI).
`json_object_schema`: `{"type": "json_object", <schema_key>: schema}` (llama.cpp, TGI).
`json_object`: `{"type": "json_object"}`, any JSON; the prompt carries the format.
`guided_json`: no `response_format`; the schema in an extra body field (`extra_body_key`).
`text`: nothing asked; the prompt carries the format and the parser reads free text.
"""

LogprobSupport = Literal["openai", "none", "version"]
"""`openai`: `choices[0].logprobs.content[].top_logprobs` as OpenAI sends it; `none`: not
returned; `version`: depends on the server's version or model (see the entry's notes)."""


@dataclass(frozen=True)
class Rejection:
    """How a server says no to a request field it does not take."""

    statuses: tuple[int, ...]
    """HTTP statuses the refusal comes with (a 500 among them means: read the body too)."""
    markers: tuple[str, ...]
    """Lower-case substrings of the error body, any of which identifies this refusal."""
    example: str
    """An error body of this shape, shortened, from the source or probe in the module docstring."""


@dataclass(frozen=True)
class ServerKind:
    """One kind of OpenAI-compatible server: what it accepts and how it refuses."""

    name: str
    title: str
    modes: tuple[FormatMode, ...]
    """Output modes it accepts, most preferred first; `text` always last."""
    rejection: Rejection
    """The refusal of a `response_format` it does not take."""
    schema_key: str | None = None
    """The key holding the schema in `json_object_schema` mode (`schema`, or TGI's `value`)."""
    extra_body_key: str | None = None
    """The top-level request field of `guided_json` mode."""
    enforces_schema: bool = True
    """False where the server may take the schema and not constrain decoding by it."""
    logprobs: LogprobSupport = "openai"
    top_logprobs_max: int | None = 20
    context_overflow: Rejection | None = None
    """The refusal of a prompt longer than the context window, where known."""
    notes: str = ""


_RESPONSE_FORMAT_MARKERS = ("response_format", "json_schema", "json_object")

OPENAI = ServerKind(
    name="openai",
    title="OpenAI",
    modes=("json_schema", "json_object", "text"),
    rejection=Rejection(
        statuses=(400,),
        markers=_RESPONSE_FORMAT_MARKERS,
        example='{"error": {"message": "Invalid parameter: \'response_format\' of type \'json_schema\' '
        'is not supported with this model.", "type": "invalid_request_error", "param": "response_format"}}',
    ),
    context_overflow=Rejection(
        statuses=(400,),
        markers=("context_length_exceeded", "maximum context length"),
        example='{"error": {"code": "context_length_exceeded", "message": "This model\'s maximum '
        'context length is ..."}}',
    ),
)

AZURE = ServerKind(
    name="azure",
    title="Azure OpenAI",
    modes=("json_schema", "json_object", "text"),
    rejection=Rejection(
        statuses=(400,),
        markers=_RESPONSE_FORMAT_MARKERS,
        example='{"error": {"message": "response_format value as json_schema is enabled only for api '
        'versions 2024-08-01-preview and later", "code": "BadRequest"}}',
    ),
    logprobs="version",
    top_logprobs_max=5,
    notes="json_schema needs api-version >= 2024-08-01-preview and a model that supports it; "
    "logprobs needs >= 2024-03-01-preview and is refused with 400 by some models.",
)

VLLM = ServerKind(
    name="vllm",
    title="vLLM",
    modes=("json_schema", "json_object", "guided_json", "text"),
    rejection=Rejection(
        statuses=(400, 500),
        markers=_RESPONSE_FORMAT_MARKERS,
        example="{\"object\": \"error\", \"message\": \"[{'type': 'missing', 'loc': ('body', "
        "'response_format', 'json_schema'), 'msg': 'Field required'}]\", \"type\": \"BadRequestError\", "
        '"code": 400}',
    ),
    extra_body_key="guided_json",
    context_overflow=Rejection(
        statuses=(400,),
        markers=("maximum context length",),
        example='{"object": "error", "message": "This model\'s maximum context length is 2048 tokens. '
        'However, you requested 2723 tokens ...", "type": "BadRequestError", "code": 400}',
    ),
    notes="guided_json is the extra body up to v0.11; v0.12 removed it for "
    '`structured_outputs: {"json": schema}`. top_logprobs above --max-logprobs (20) is a 400. '
    "A malformed response_format has come back as a 500 with an empty message.",
)

OLLAMA = ServerKind(
    name="ollama",
    title="Ollama",
    modes=("json_schema", "json_object", "text"),
    rejection=Rejection(
        statuses=(400,),
        markers=(*_RESPONSE_FORMAT_MARKERS, "invalid format"),
        example='{"error": "invalid format: expected \\"json\\" or a JSON schema"}',
    ),
    enforces_schema=False,
    logprobs="version",
    notes="json_schema is honoured by local Ollama >= 0.5 and accepted but not enforced by Ollama "
    "Cloud; logprobs on /v1 since 0.12.11, silently dropped before. A refusal of the format is "
    "rare: older versions ignore what they do not know.",
)

LM_STUDIO = ServerKind(
    name="lmstudio",
    title="LM Studio",
    modes=("json_schema", "text"),
    rejection=Rejection(
        statuses=(400,),
        markers=("response_format",),
        example="{\"error\": \"'response_format.type' must be 'json_schema' or 'text'\"}",
    ),
    logprobs="none",
    top_logprobs_max=None,
    notes="json_object is refused (400); logprobs are not documented for the OpenAI-compatible endpoint.",
)

TGI = ServerKind(
    name="tgi",
    title="Hugging Face TGI",
    modes=("json_object_schema", "text"),
    rejection=Rejection(
        statuses=(422,),
        markers=("response_format", "failed to deserialize"),
        example="Failed to deserialize the JSON body into the target type: response_format: missing "
        "field `value` at line 1 column 168",
    ),
    schema_key="value",
    top_logprobs_max=5,
    notes='TGI\'s json_object needs the schema under "value" (plain json_object is a 422); '
    'json_schema also wants "value", not the OpenAI "json_schema" wrapper, before TGI PR 3276.',
)

LLAMA_SERVER = ServerKind(
    name="llama-server",
    title="llama.cpp llama-server",
    modes=("json_schema", "json_object_schema", "json_object", "text"),
    rejection=Rejection(
        statuses=(400, 500),
        markers=_RESPONSE_FORMAT_MARKERS,
        example='{"error": {"code": 500, "message": "response_format type must be one of \\"text\\" or '
        '\\"json_object\\", but got: json_schema", "type": "server_error"}}',
    ),
    schema_key="schema",
    context_overflow=Rejection(
        statuses=(400,),
        markers=("exceeds the available context size",),
        example='{"error": {"code": 400, "message": "the request exceeds the available context size, '
        'try increasing it", "type": "exceed_context_size_error"}}',
    ),
    notes="json_schema since llama.cpp b3800-ish (PR 9527, 2024-09); older builds answer it with "
    "a 500. A top-level `json_schema` or `grammar` field is also taken.",
)

LLAMA_CPP_PYTHON = ServerKind(
    name="llama-cpp-python",
    title="llama-cpp-python server",
    modes=("json_object_schema", "json_object", "text"),
    rejection=Rejection(
        statuses=(500,),
        markers=("response_format",),
        example="{\"error\": {\"message\": \"1 validation error:\\n  {'type': 'literal_error', 'loc': "
        "('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
        '\'input\': \'json_schema\', ...}\\n ...", "type": "internal_server_error", "param": null, '
        '"code": null}}',
    ),
    schema_key="schema",
    top_logprobs_max=None,
    context_overflow=Rejection(
        statuses=(400,),
        markers=("context_length_exceeded", "maximum context length"),
        example='{"error": {"message": "This model\'s maximum context length is 2048 tokens. However, '
        "you requested 3051 tokens (3031 in the messages, 20 in the completion). Please reduce the "
        'length of the messages or completion.", "type": "invalid_request_error", "param": "messages", '
        '"code": "context_length_exceeded"}}',
    ),
    notes="Probed (0.3.36): json_schema is a 500 validation error; json_object with `schema` "
    "constrains decoding by a grammar that ignores minimum/maximum (a 1-5 score came back as 10; "
    "`enum` is enforced); unknown extra fields (guided_json) are ignored. One request at a time: "
    "concurrent requests queue, latency grows linearly. top_logprobs is not capped (30 gave 30) "
    "and comes from the distribution before the grammar. Generation under the grammar is 5-10x "
    "slower than free text (2-7 tokens/s for SmolLM2-135M on 2 cores).",
)

GENERIC = ServerKind(
    name="generic",
    title="Unknown OpenAI-compatible server",
    modes=("json_schema", "json_object_schema", "json_object", "text"),
    rejection=Rejection(
        statuses=(400, 422, 500),
        markers=_RESPONSE_FORMAT_MARKERS,
        example=LLAMA_CPP_PYTHON.rejection.example,
    ),
    schema_key="schema",
    enforces_schema=False,
    logprobs="version",
    notes="The ladder for an endpoint of unknown kind: try each mode once, step down on a "
    "refusal; a 500 counts as a refusal only when its body names response_format.",
)

SERVER_KINDS: tuple[ServerKind, ...] = (
    OPENAI,
    AZURE,
    VLLM,
    OLLAMA,
    LM_STUDIO,
    TGI,
    LLAMA_SERVER,
    LLAMA_CPP_PYTHON,
    GENERIC,
)
"""Every kind, GENERIC last."""


def server_kind(name: str) -> ServerKind:
    """The kind named `name` (see SERVER_KINDS); raises KeyError naming the known ones."""
    for kind in SERVER_KINDS:
        if kind.name == name:
            return kind
    known = ", ".join(kind.name for kind in SERVER_KINDS)
    raise KeyError(f"unknown server kind {name!r}; known: {known}")


def is_rejection(rejection: Rejection, status: int, body: str) -> bool:
    """Whether an error response (`status`, `body`) is this refusal: its status and a marker."""
    lowered = body.lower()
    return status in rejection.statuses and any(marker in lowered for marker in rejection.markers)
