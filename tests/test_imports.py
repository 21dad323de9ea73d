"""No import cycle in the promptmgr package.

Builds the graph of module-level imports from the source (imports inside functions are lazy and
left out, as are `if TYPE_CHECKING:` blocks) and fails on any cycle, naming the modules in it."""
from __future__ import annotations

import ast
from pathlib import Path

import promptmgr

PACKAGE_DIR = Path(promptmgr.__file__).resolve().parent


def module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = ["promptmgr", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(tree: ast.Module):
    """Import statements that run when the module is imported: not in functions, not type-only."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, (ast.Try, ast.With, ast.ClassDef, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def every_import(tree: ast.Module):
    """Import statements anywhere, function-level (lazy) ones included; type-only ones are not."""
    type_only = {id(node) for branch in ast.walk(tree)
                 if isinstance(branch, ast.If) and _is_type_checking(branch.test) for node in ast.walk(branch)}
    return [node for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in type_only]


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports (at module level, or anywhere with `lazy`). An edge
    to one of its own parent packages is left out: a parent is initialised before its modules run."""
    modules = module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    find_imports = every_import if lazy else module_level_imports
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in find_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                # `from x import y` loads x, and x.y too when y is a module.
                targets = [source, *(f"{source}.{alias.name}" for alias in node.names)]
            for target in targets:
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_module_level_imports_only():
    graph = import_graph()
    assert "promptmgr.context" in graph["promptmgr"]  # from .context import TenantContext
    assert "promptmgr.bootstrap" not in graph["promptmgr"]  # imported inside build_services()
    assert "promptmgr.llm.offline" in graph["promptmgr.bootstrap"]  # from .llm import offline


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_no_import_cycle_even_through_lazy_imports():
    """A lazy import that closes a cycle still means a module that wants a lower home."""
    assert cycles(import_graph(lazy=True)) == []


# --- the `prompts list` path stays lean (start-up time, issue 8 §10) ------------------------------
LIST_PATH_PROBE = """
import contextlib, io, json, sys
from promptmgr.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["prompts", "list"])
    except SystemExit as exc:
        assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def test_prompts_list_imports_nothing_it_does_not_need(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTMGR_") and k != "DATABASE_URL"}
    env.update(PROMPTMGR_HOME=str(tmp_path / "home"), PROMPTMGR_LOCALE="en")
    for _ in range(2):  # the first run creates the data folder (migrations); the second is the everyday one
        proc = subprocess.run([sys.executable, "-c", LIST_PATH_PROBE], cwd=PACKAGE_DIR.parent, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    top_level = {name.split(".")[0] for name in loaded}
    for heavy in ("gradio", "litellm", "alembic", "jinja2", "tiktoken", "httpx", "llama_cpp", "fastapi", "rich"):
        assert heavy not in top_level, f"`prompts list` imports {heavy}"
    for other_command in ("enhance", "library", "models", "providers", "runs", "ui"):
        assert f"promptmgr.cli.{other_command}" not in loaded


def test_every_command_is_in_the_lazy_table():
    from promptmgr import cli

    app = cli.build_app()
    names = {info.name for info in app.registered_commands} | {info.name for info in app.registered_groups}
    assert names == set(cli.GROUPS) | set(cli.COMMANDS)
    for name in names:  # wiring one command gives that command (and its module's others)
        alone = cli.build_app(name)
        assert name in {i.name for i in alone.registered_commands} | {i.name for i in alone.registered_groups}
