"""The house rules a reader relies on, checked on the source: who may name the tools, how long a function or module
may grow, and that the README's module map is the tree."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mcp_k8s"
TOOLS_LIST = ROOT / "tests" / "snapshots" / "tools-default.json"


def _sentences(path: Path) -> Iterator[tuple[int, str]]:
    """Every string literal (f-string parts included) that reads as text (it has a space), docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) and id(node) not in docstrings else None
        if isinstance(text, str) and " " in text:
            yield node.lineno, text


def _tool_words() -> tuple[set[str], set[str]]:
    """The names a model calls: tools, and every parameter (nested ones such as a GenerateSpec's too)."""
    tools = json.loads(TOOLS_LIST.read_text())
    names = {t["name"] for t in tools}
    params: set[str] = set()
    for tool in tools:
        schema = tool["inputSchema"]
        params |= set(schema.get("properties", {}))
        for nested in schema.get("$defs", {}).values():
            params |= set(nested.get("properties", {}))
    return names, params


def _naming(text: str, tools: set[str], params: set[str]) -> list[str]:
    """The tool and parameter names `text` uses as names: a tool anywhere, a parameter in a form that addresses it
    (`p=`, `p[...]`, 'p', `p`, a sentence that starts with it, or any snake_case one, which is no English word)."""
    found = [t for t in tools if re.search(rf"\b{t}\b", text)]
    for p in params:
        forms = [rf"\b{p}=", rf"\b{p}\[", rf"'{p}'", rf"`{p}`", rf"^{p} "]
        if "_" in p:
            forms.append(rf"\b{p}\b")
        if any(re.search(form, text) for form in forms):
            found.append(p)
    return found


def test_only_tools_name_tools_and_parameters() -> None:
    """errors.py and kube/ do not know the tools: a way out that names one travels as an `errors.Hint`, and
    tools/hints.py words it. (A message here naming `container=` would be wrong for any other caller.)"""
    tools, params = _tool_words()
    assert {"check_access", "force_conflicts", "container"} <= tools | params  # the snapshot is what we think
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {', '.join(sorted(names))} in {text!r}"
        for path in [PACKAGE / "errors.py", *sorted((PACKAGE / "kube").glob("*.py"))]
        for line, text in _sentences(path)
        if (names := _naming(text, tools, params))
    ]
    assert not offenders, "\n".join(offenders)


def test_the_rule_catches_what_it_should() -> None:
    tools, params = _tool_words()
    assert _naming("Forbidden; or call check_access to see.", tools, params) == ["check_access"]
    assert _naming("; pass container= one of them.", tools, params) == ["container"]
    assert _naming("apply again with force_conflicts=true", tools, params) == ["force_conflicts"]
    assert sorted(_naming("name needs plural (e.g. plural='widgets')", tools, params)) == ["name", "plural"]
    assert _naming('Secret "x" has no key "a"; its keys are b.', tools, params) == []


MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500
# At most three functions may stay longer, where the whole reads better than parts: each named, with the most lines
# it may have and why.
LONG_FUNCTIONS = {
    # The server's whole wiring in one place; "perf" splits it this session (then this entry goes).
    "server.py:_build_mcp": 61,
}


def _function_lengths() -> dict[str, int]:
    lengths = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                where = f"{path.relative_to(PACKAGE)}:{node.name}"
                lengths[where] = max(lengths.get(where, 0), node.end_lineno - node.lineno + 1)
    return lengths


def test_no_function_over_sixty_lines_but_the_named_few() -> None:
    assert len(LONG_FUNCTIONS) <= 3
    long = {
        where: n
        for where, n in _function_lengths().items()
        if n > max(MAX_FUNCTION_LINES, LONG_FUNCTIONS.get(where, 0))
    }
    assert not long, f"split these (or name why not, at most three): {long}"


def test_no_module_in_kube_or_tools_over_five_hundred_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for folder in ("kube", "tools")
        for path in (PACKAGE / folder).glob("*.py")
    }
    assert len(sizes) > 10
    assert not {m: n for m, n in sizes.items() if n > MAX_MODULE_LINES}


def _module_map() -> set[str]:
    """The modules README.md's map names: the `mcp_k8s/` tree in its Development section, two spaces a level."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("## Development") :].split("```", 2)[1]
    lines = block.splitlines()
    start = lines.index("mcp_k8s/")
    listed: set[str] = set()
    folders: list[str] = []
    for line in lines[start + 1 :]:
        found = re.match(r"( *)(\S+)", line)
        if found is None:
            continue
        depth, name = len(found.group(1)) // 2, found.group(2)
        if depth == 0:
            break  # past mcp_k8s/
        if not name.endswith((".py", "/")):
            continue  # a description's second line
        folders = folders[: depth - 1]
        if name.endswith("/"):
            folders.append(name)
        else:
            listed.add("".join(folders) + name)
    return listed


def test_the_readme_module_map_is_the_tree() -> None:
    tree = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    listed = _module_map()
    assert {"cli.py", "kube/pods.py", "tools/hints.py", "sandbox/pki.py"} <= listed
    assert not tree - listed, f"add to README.md's module map: {sorted(tree - listed)}"
    assert not listed - tree, f"README.md's module map names what is not there: {sorted(listed - tree)}"


def test_every_toolset_is_a_leaf_in_the_import_contract() -> None:
    """A new toolset must join the independence contract, or it could quietly import a sibling's internals."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (leaves,) = [c["modules"] for c in contracts if c["type"] == "independence"]
    toolsets = {
        f"mcp_k8s.tools.{path.stem}"
        for path in (PACKAGE / "tools").glob("*.py")
        if re.search(r"^TOOLS\b", path.read_text(), re.MULTILINE)
    }
    assert len(toolsets) >= 5
    assert not toolsets - set(leaves)
