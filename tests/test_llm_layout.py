"""Issue 8 §4: promptmgr/llm/ has no import cycles, stays light on package import, and is the
only place that imports litellm."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "promptmgr"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when `path` is imported (module level only; imports inside functions are lazy)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    return {name: {m for m in _top_level_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_the_model_layer_has_no_import_cycles():
    graph = _graph()
    llm = {name for name in graph if name.startswith("promptmgr.llm")}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(llm):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    # The model layer never reaches up into services, the UI or the CLI.
    upward = {(a, b) for a in llm for b in graph[a] if b.startswith(("promptmgr.services", "promptmgr.ui",
                                                                      "promptmgr.cli"))}
    assert upward == set()


def test_only_the_litellm_backend_imports_litellm():
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n == "litellm" or n.startswith("litellm.") for n in names):
                importers.add(path.relative_to(PACKAGE).as_posix())
    assert importers == {"llm/remote.py"}


def test_package_import_stays_light():
    # Even the gateway and the registry (with both default backends) load no model library.
    code = ("import sys, promptmgr, promptmgr.llm.gateway as g, promptmgr.llm.registry as r; r.backends(); "
            "print([m for m in ('litellm', 'gradio', 'llama_cpp', 'openai', 'httpx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.strip()
    assert out == "[]"
    light = subprocess.run([sys.executable, "-c", "import sys, promptmgr; print('asyncio' in sys.modules, "
                            "sorted(m for m in sys.modules if m.startswith('promptmgr.llm')))"],
                           capture_output=True, text=True, check=True, cwd=PACKAGE.parent).stdout.strip()
    assert light == "False []"  # the entry points apply the offline switches, not the package


def test_backends_are_routed_by_exact_name_then_prefix_then_default():
    from promptmgr.llm.gateway import Gateway
    from promptmgr.llm.local import LocalBackend
    from promptmgr.llm.registry import backend_for
    from promptmgr.llm.remote import LitellmBackend
    from promptmgr.llm.types import ModelTarget
    from tests.llm_doubles import ScriptedBackend, use_backend

    assert isinstance(backend_for("local/smollm2"), LocalBackend)
    assert isinstance(backend_for("openai/gpt-4o-mini"), LitellmBackend)
    double = ScriptedBackend("one two three")
    with use_backend(double, prefixes=["double"]):
        assert backend_for("double/anything") is double
        result = Gateway(None).complete(ModelTarget("double/x", "double/x"), [{"role": "user", "content": "hi"}])
        streamed = list(Gateway(None).stream(ModelTarget("double/y", "double/y"), [{"role": "user", "content": "hi"}]))
    assert result.ok and result.text == "one two three" and result.completion_tokens == 3
    assert "".join(streamed[:-1]) == streamed[-1].text == "one two three"
    assert [c["model"] for c in double.calls] == ["double/x", "double/y"]
    assert isinstance(backend_for("double/anything"), LitellmBackend)  # restored


def test_the_bundled_price_map_serves_what_litellm_serves():
    # Prices are read from litellm's bundled file before litellm is imported: every model litellm
    # knows must get the same prices, provider and context window from it (aliases included).
    from promptmgr.llm import remote

    bundled = remote._bundled_price_map()
    served = remote.litellm_module().model_cost
    fields = ("input_cost_per_token", "output_cost_per_token", "litellm_provider", "max_input_tokens", "mode")
    differ = [name for name, entry in served.items() if name != "sample_spec"
              and tuple(bundled.get(name, {}).get(f) for f in fields) != tuple(entry.get(f) for f in fields)]
    assert differ == []


def test_a_price_lookup_does_not_import_litellm():
    code = ("import sys; from promptmgr.llm import remote; "
            "k = remote.lookup_price_entry('openai/gpt-4o-mini'); u = remote.lookup_price_entry('fake/unknown'); "
            "print(k[0], k[1]['input_cost_per_token'] > 0, u, 'litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.strip()
    assert out == "gpt-4o-mini True None False"
