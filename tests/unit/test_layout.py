"""The package layout holds its architecture: no import cycles between modules (module-level
imports, the ones that run at import time), a layer contract (a package imports only from the
layers below it), `config` depends on nothing but `constants`, and the provider registry serves
exactly the types the configuration accepts."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from switchboard.providers import provider_fields, registered_types

PACKAGE = Path(__file__).resolve().parents[2] / "lambda_src" / "switchboard"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # top level only: lazy imports are not cycles
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("switchboard"):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("switchboard")]
            deps.update(t for t in targets if t in modules and t != name)
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's `__init__` re-exporting its children is not a cycle of behaviour: an import of
    `pkg.child` runs `pkg/__init__` first either way. Edges child -> parent package are dropped."""
    return {name: {d for d in deps if not name.startswith(d + ".")} for name, deps in graph.items()}


def test_no_import_cycles() -> None:
    assert _cycle(_without_packages(_graph())) is None


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__", "lambda_handler"),  # process entry points
    ("cli",),  # the command line (serve, keys, usage, check-config)
    ("app", "devtools"),  # wiring the gateway together; test servers
    ("demo",),  # which configuration a process serves (a file, or the built-in demo)
    ("admin",),  # admin tokens, key operations, admin API, console views and per-minute aggregates
    ("edge",),  # the ASGI server: routes, HTTP guard, origin guard
    ("pipeline",),  # one request's stages
    ("routing",),  # plan, executor, relay, balancing
    ("dialects", "providers"),  # client formats; provider adapters (neither imports the other)
    ("wire", "upstream"),  # one module per wire format; the HTTP transport and credentials
    ("state", "telemetry"),  # keys, limits, usage, prices, stores; timing, metrics, traces
    ("asgi", "encoding"),  # ASGI types and the HTTP messages every layer reads and writes; body codings
    ("errors", "config", "values"),  # the error tree, the configuration, shared value types
    ("constants", ""),  # names; the package itself (its version)
)
"""Top to bottom. A module may import from its own package and from any layer below its own."""

_RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    """`switchboard.routing.relay` -> `routing`; `switchboard.asgi` -> `asgi`; the package -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, deps in sorted(graph.items()):
        for dep in sorted(deps):
            src, dst = _unit(module), _unit(dep)
            if src != dst and _RANK[src] >= _RANK[dst]:
                found.append(f"{module} -> {dep}")
    return found


def test_every_unit_has_a_layer() -> None:
    assert {_unit(m) for m in _graph()} <= set(_RANK)


def test_layers_import_only_downward() -> None:
    assert _layer_violations(_graph()) == []


def test_the_layer_check_finds_an_upward_import() -> None:
    graph = {"switchboard.state.usage": {"switchboard.wire.openai"}, "switchboard.wire.openai": set()}
    assert _layer_violations(graph) == ["switchboard.state.usage -> switchboard.wire.openai"]


def test_config_imports_nothing_of_the_rest() -> None:
    graph = _graph()
    sections = [m for m in graph if m == "switchboard.config" or m.startswith("switchboard.config.")]
    assert len(sections) > 1  # one module per section
    for module in sections:
        outside = {d for d in graph[module] if not d.startswith("switchboard.config")}
        assert outside <= {"switchboard.constants"}, module


def test_the_registry_is_the_one_list_of_provider_types() -> None:
    # the configuration validates against the descriptors: no provider type name is spelled out
    # anywhere else in the runtime
    assert set(provider_fields()) == registered_types()
    names = "|".join(sorted(registered_types()))
    spelled = re.compile(rf"""(?:==|!=|\bin\s*[(\[{{])\s*["'](?:{names})["']""")  # a branch on a type
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "providers" and spelled.search(path.read_text())
    ]
    assert offenders == []


def test_a_descriptor_drives_the_configuration() -> None:
    from switchboard.config import ConfigError, parse_config

    def doc(provider: dict[str, str]) -> dict[str, object]:
        return {"providers": {"p": provider}, "models": {"m": {"targets": ["p/x"]}}}

    with pytest.raises(ConfigError, match=r"providers\.p\.region: required for bedrock"):
        parse_config(doc({"type": "bedrock"}), env={})
    assert parse_config(doc({"type": "mock"}), env={}).providers["p"].base_url == ""
    with pytest.raises(ConfigError, match=r"providers\.p\.base_url: required"):
        parse_config(doc({"type": "openai"}), env={})
