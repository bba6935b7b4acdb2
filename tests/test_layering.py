"""The structure stays true: what each layer may import (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "captioner"

# layer (module prefix) -> the captioner modules it may import (prefixes)
ALLOWED = {
    "captioner.core.wire": ("captioner.core.wire",),
    "captioner.core.estimators": ("captioner.core.estimators", "captioner.core.wire"),
    "captioner.core.render": ("captioner.core.render", "captioner.core._model"),
    "captioner.core": ("captioner.core",),
    "captioner.edges": ("captioner.core", "captioner.edges", "captioner.examples"),
    "captioner.examples": (),
    "captioner.server": ("captioner.core.wire", "captioner.server", "captioner.edges.vad", "captioner.edges.webrtc"),
    "captioner.cli": ("captioner",),
    "captioner.__main__": ("captioner.cli",),  # ``python -m captioner``: the command line only
}
# the sans-I/O core never touches these
FORBIDDEN_IN_CORE = {"socket", "asyncio", "sounddevice", "websockets", "time", "threading", "subprocess"}
CORE_EXCEPTIONS = {("captioner.core.estimators._deferred", "threading"),  # a lock shared with a worker thread
                   ("captioner.core.estimators._sphinx", "threading")}  # the aligner pool's lock


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names if node.module == "captioner")
    return names


def _layer(module: str) -> str:
    return max((k for k in ALLOWED if module == k or module.startswith(k + ".")), key=len)


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_imports_follow_the_layers(module, path):
    if module == "captioner":
        return  # the package face re-exports the core only (checked below)
    allowed = ALLOWED[_layer(module)]
    for name in _imports(path, module):
        if name.startswith("captioner"):
            assert name.startswith(allowed), f"{module} imports {name}"
        elif module.startswith("captioner.core"):
            top = name.split(".")[0]
            assert top not in FORBIDDEN_IN_CORE or (module, top) in CORE_EXCEPTIONS, f"{module} imports {name}"


def test_the_package_face_is_the_sans_io_core():
    names = _imports(PACKAGE / "__init__.py", "captioner")
    assert {n for n in names if n.startswith("captioner.")} and all(
        n.startswith("captioner.core") for n in names if n.startswith("captioner."))


def test_no_import_cycles_between_modules():
    graph = {m: {n for n in _imports(p, m) if n.startswith("captioner")} for m, p in _modules()}
    modules = set(graph)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        return name or None

    edges = {m: {r for n in deps if (r := resolve(n)) and r != m and not m.startswith(r + ".")}
             for m, deps in graph.items()}
    # packages re-export their children: an edge into a package is an edge into its modules
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in edges.get(m, ()):
            if n.endswith("__init__") or (m.startswith(n + ".")):
                continue
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n] if n in stack else [m, n]
                if not all(c.startswith(n + ".") or n.startswith(c + ".") for c in cycle[:-1]):
                    raise AssertionError("import cycle: " + " -> ".join(cycle))
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])
