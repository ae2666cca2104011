"""The package's shape: imports run one way through three rings, with no circles.

ground   values, interfaces, errors, paths, config and the engine table
middle   engines, the turn and what it is made of
top      the front-ends: cli, talk, web, bench

Every import counts, lazy and annotation-only ones too: they are what a reader follows.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "voicechat"
GROUND = {
    "voicechat",
    "voicechat.types",
    "voicechat.errors",
    "voicechat.paths",
    "voicechat.hub",
    "voicechat.fileio",
    "voicechat.compute",
    "voicechat.marks",
    "voicechat.stages",
    "voicechat.engines",
    "voicechat.config",
    "voicechat.asr.base",
    "voicechat.llm.base",
    "voicechat.tts.base",
    "voicechat.data",
}
MAX_CLASS_LINES = 200
TOP = ("voicechat.cli", "voicechat.talk", "voicechat.web", "voicechat.bench", "voicechat.__main__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each voicechat module and the voicechat modules it imports, anywhere in the file."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in files)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in files:
                        found.add(target)
                    elif base in files:
                        found.add(base)
        found.discard(name)
        graph[name] = found
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round about (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def ring(module: str) -> int:
    """0 ground, 1 middle, 2 top."""
    if module in GROUND:
        return 0
    return 2 if module.startswith(TOP) else 1


def test_no_module_imports_itself_round_about() -> None:
    assert circles(import_graph()) == []


def test_imports_run_from_the_top_down() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if ring(target) > ring(module)
    ]
    assert upward == []


def test_no_class_passes_200_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE.parent)}: {node.name} ({size} lines)"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and (size := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_CLASS_LINES
    ]
    assert long == []
