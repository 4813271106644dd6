"""The package's shape: imports point one way, the codec stays pure, the public namespace is pinned."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import judgekit

PACKAGE = Path(judgekit.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports() -> dict[str, set[str]]:
    """Each module's judgekit imports made at import time (not those inside functions)."""
    graph: dict[str, set[str]] = {}
    modules = {_module_name(path) for path in PACKAGE.rglob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        imported: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("judgekit"):
                # `from judgekit import metrics` imports the submodule, not the package's names
                submodules = {f"{node.module}.{a.name}" for a in node.names}
                imported.update((submodules & modules) or {node.module})
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names if a.name.startswith("judgekit"))
        graph[_module_name(path)] = imported
    return graph


def test_no_import_cycles() -> None:
    graph = _top_level_imports()
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail, module, target]))
            if target not in state:
                visit(target, [*trail, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_codec_and_the_exchange_do_no_io_and_know_no_transport() -> None:
    graph = _top_level_imports()
    online = {"judgekit._engine.sender", "judgekit._engine.files", "judgekit._engine.processes"}
    for module in ("judgekit._engine.codec", "judgekit._engine.exchange"):
        assert not {m for m in graph[module] if m.startswith("judgekit._engine.transports")} | (
            graph[module] & online
        ), module
        source = (PACKAGE.parent / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        assert (
            "import asyncio" not in source
            and "import aiohttp" not in source
            and "import openai" not in source
        )


def test_batch_uses_the_codec_not_the_online_judge() -> None:
    graph = _top_level_imports()
    for module, imported in graph.items():
        if module.startswith("judgekit.batch"):
            assert not imported & {"judgekit._judge", "judgekit._engine.sender", "judgekit._api"}, module


DOCUMENTED_SUBPACKAGES = {"batch", "calibration", "cli", "metrics", "ray", "testing"}
"""The subpackages the README documents; every other module is private (`_name`) and free to move."""


def test_the_public_namespace_is_all_plus_documented_subpackages() -> None:
    script = "import judgekit; print(sorted(n for n in vars(judgekit) if not n.startswith('_')))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    names = set(eval(output))
    public = {name for name in judgekit.__all__ if not name.startswith("_")}
    assert public <= names and names - public <= DOCUMENTED_SUBPACKAGES, names - public


def test_every_public_module_is_a_documented_subpackage() -> None:
    public = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if not path.name.startswith("_") and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    assert public == DOCUMENTED_SUBPACKAGES
