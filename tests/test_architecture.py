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
    online = {"judgekit.engine.sender", "judgekit.engine.files", "judgekit.engine.processes"}
    for module in ("judgekit.engine.codec", "judgekit.engine.exchange"):
        assert not {m for m in graph[module] if m.startswith("judgekit.engine.transports")} | (
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
            assert not imported & {"judgekit.judge", "judgekit.engine.sender", "judgekit.api"}, module


def test_the_public_namespace_is_all_plus_subpackages() -> None:
    """After `import judgekit`, every public name that is not a module is in __all__."""
    script = (
        "import types, judgekit\n"
        "print(sorted(n for n, v in vars(judgekit).items()\n"
        "    if not n.startswith('_') and not isinstance(v, types.ModuleType)))\n"
    )
    names = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert eval(names) == sorted(n for n in judgekit.__all__ if not n.startswith("_"))
