"""The server table (judgekit._engine.servers) is consistent with itself."""

from __future__ import annotations

import pytest

from judgekit._engine.servers import (
    GENERIC,
    LLAMA_CPP_PYTHON,
    SERVER_KINDS,
    ServerKind,
    is_rejection,
    server_kind,
)


@pytest.mark.parametrize("kind", SERVER_KINDS, ids=lambda kind: kind.name)
def test_each_kind_is_well_formed(kind: ServerKind) -> None:
    assert kind.modes[-1] == "text"
    assert len(set(kind.modes)) == len(kind.modes)
    assert ("json_object_schema" in kind.modes) == (kind.schema_key is not None) or kind is GENERIC
    assert ("guided_json" in kind.modes) == (kind.extra_body_key is not None)
    assert is_rejection(kind.rejection, kind.rejection.statuses[0], kind.rejection.example)
    if kind.context_overflow is not None:
        overflow = kind.context_overflow
        assert is_rejection(overflow, overflow.statuses[0], overflow.example)
        assert not is_rejection(kind.rejection, overflow.statuses[0], overflow.example)


def test_names_are_unique_and_generic_is_last() -> None:
    names = [kind.name for kind in SERVER_KINDS]
    assert len(set(names)) == len(names)
    assert SERVER_KINDS[-1] is GENERIC
    assert server_kind("llama-cpp-python") is LLAMA_CPP_PYTHON
    with pytest.raises(KeyError, match="known: openai"):
        server_kind("nope")


def test_the_probed_llama_cpp_python_refusal_is_a_500_naming_response_format() -> None:
    body = LLAMA_CPP_PYTHON.rejection.example
    assert is_rejection(LLAMA_CPP_PYTHON.rejection, 500, body)
    assert is_rejection(GENERIC.rejection, 500, body)
    # A 500 that does not name response_format stays a transient server error.
    assert not is_rejection(GENERIC.rejection, 500, '{"error": {"message": "CUDA out of memory"}}')
    assert not is_rejection(GENERIC.rejection, 429, body)
