"""The package's shape: imports run one way through three rings, with no circles, and no
module or function grows past what a reader can hold.

ground   values, interfaces, errors, paths, config and the engine table
middle   the adapters (asr/, llm/, tts/, audio/, echo/), then the turn and what it is made of
top      the front-ends: cli, talk, web, bench

Every import counts, lazy and annotation-only ones too: they are what a reader follows; so
does a module named in a string (the engine table's "module:Class", importlib). The checks
fail when they see too little (a moved package, an empty graph), and each is shown to fail
on a package built to break it.
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
    "voicechat.words",
}
MAX_CLASS_LINES = 200
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
MIN_MODULES = 80
"""Fewer modules than this: the package was not found where it is, or moved."""
TOP = ("voicechat.cli", "voicechat.talk", "voicechat.web", "voicechat.bench", "voicechat.__main__")
ADAPTERS = ("voicechat.asr", "voicechat.llm", "voicechat.tts", "voicechat.audio", "voicechat.echo")
"""The middle ring's lower half: one adapter per engine or device, which must not import the
turn or what it is made of (the rest of the middle ring)."""
REGISTRY = "voicechat.engines"
"""The engine table: it names adapters in strings and imports one only when asked for, so its
strings are checked on their own (each names a class that exists), not as imports: the
adapters take their config section, and config reads the table."""


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def named_in_strings(path: Path, files: dict[str, Path]) -> set[str]:
    """The package's modules a file names in a string ("voicechat.asr.whisper:Whisper",
    `importlib.import_module("voicechat.x")`): imports made by name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            module = node.value.split(":")[0]
            if module in files and module != _module_name(path, _package_of(files)):
                found.add(module)
    return found


def _package_of(files: dict[str, Path]) -> Path:
    return min(files.values(), key=lambda p: len(p.parts)).parent


def import_graph(package: Path = PACKAGE, strings: bool = False) -> dict[str, set[str]]:
    """Each module of `package` and the package's modules it imports, anywhere in the file
    (and, with `strings`, those it names in a string)."""
    files = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package_name = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = named_in_strings(path, files) if strings else set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in files)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package_name.split(".")
                    anchor = parts[: len(parts) - node.level + 1]
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


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a lower ring into a higher one, and from an adapter into the turn."""
    found = []
    for module, targets in graph.items():
        for target in targets:
            adapter_to_turn = (
                module.startswith(ADAPTERS)
                and ring(target) == 1
                and not target.startswith(ADAPTERS)
            )
            if ring(target) > ring(module) or adapter_to_turn:
                found.append(f"{module} imports {target}")
    return found


def seen_enough(graph: dict[str, set[str]]) -> list[str]:
    """What is missing from a graph for the checks on it to mean anything."""
    missing = [] if len(graph) >= MIN_MODULES else [f"only {len(graph)} modules"]
    missing += [f"no module {m}" for m in sorted(GROUND) if m not in graph]
    missing += [f"no package {p}" for p in (*TOP, *ADAPTERS) if p not in graph]
    return missing


def test_the_checks_see_the_whole_package() -> None:
    assert seen_enough(import_graph()) == []


def _graph_with_strings() -> dict[str, set[str]]:
    """Imports, and modules named in strings, but the registry's (see REGISTRY)."""
    graph = import_graph(strings=True)
    graph[REGISTRY] = import_graph()[REGISTRY]
    return graph


def test_no_module_imports_itself_round_about() -> None:
    assert circles(_graph_with_strings()) == []


def test_imports_run_from_the_top_down() -> None:
    assert upward_imports(_graph_with_strings()) == []


def test_every_engine_the_table_names_exists() -> None:
    from voicechat.engines import ASR_ENGINES, LLM_ENGINES, TTS_ENGINES

    specs = [*ASR_ENGINES.values(), *LLM_ENGINES.values(), *TTS_ENGINES.values()]
    specs = [spec for spec in specs if spec.target]  # "none": no voice
    assert len(specs) >= 6
    for spec in specs:
        module, _, name = spec.target.partition(":")
        path = PACKAGE.parent / (module.replace(".", "/") + ".py")
        tree = ast.parse(path.read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        assert name in defined, spec.target


def test_the_checks_fail_on_an_empty_or_misplaced_package(tmp_path: Path) -> None:
    """An empty folder is seen as too little; a ground module that imports the turn, an
    adapter that imports the turn by name, and a circle are each caught."""
    empty = tmp_path / "voicechat"
    empty.mkdir()
    assert seen_enough(import_graph(empty))
    broken = tmp_path / "broken" / "voicechat"
    for name, text in {
        "__init__.py": "",
        "types.py": "from voicechat.turn import run_turn\n",
        "turn.py": "from voicechat import types\n",
        "asr/__init__.py": "",
        "asr/tiny.py": 'TURN = "voicechat.turn:run_turn"\n',
    }.items():
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_text(text)
    graph = import_graph(broken, strings=True)
    assert sorted(upward_imports(graph)) == [
        "voicechat.asr.tiny imports voicechat.turn",
        "voicechat.types imports voicechat.turn",
    ]
    assert circles(graph) == [["voicechat.turn", "voicechat.types"]]
    assert seen_enough(graph)


def _long_functions(package: Path) -> list[str]:
    return [
        f"{path.relative_to(package.parent)}: {node.name} ({size} lines)"
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (size := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]


def test_no_module_passes_400_lines_no_class_200_no_function_80() -> None:
    files = list(PACKAGE.rglob("*.py"))
    assert len(files) >= MIN_MODULES
    long_modules = [
        f"{path.relative_to(PACKAGE.parent)} ({size} lines)"
        for path in files
        if (size := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    long_classes = [
        f"{path.relative_to(PACKAGE.parent)}: {node.name} ({size} lines)"
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and (size := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_CLASS_LINES
    ]
    assert long_modules == [] and long_classes == [] and _long_functions(PACKAGE) == []
