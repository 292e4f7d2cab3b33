"""The package layout BUILD.md describes: no import cycle, no twin file names, literal `__all__`s."""

import ast
import collections
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, pathlib.Path]:
  out = {}
  for path in sorted((ROOT / package).rglob("*.py")):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
      parts = parts[:-1]
    out[".".join(parts)] = path
  return out


def _module_level_imports(path: pathlib.Path, modules: dict) -> set[str]:
  """Modules of `modules` imported when `path` is imported (function bodies excluded)."""
  found = set()
  stack = list(ast.parse(path.read_text()).body)
  while stack:
    node = stack.pop()
    if isinstance(node, (ast.If, ast.Try, ast.With)):  # still run at import time
      stack.extend(ast.iter_child_nodes(node))
    elif isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name in modules)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      if node.module in modules:
        found.add(node.module)
      found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
  return found


def import_cycles(package: str) -> list[list[str]]:
  """Strongly connected components (more than one module) of the module-level import graph."""
  modules = _modules(package)
  graph = {m: _module_level_imports(p, modules) for m, p in modules.items()}
  index, low, stack, on_stack, cycles = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        cycles.append(sorted(comp))

  for v in modules:
    if v not in index:
      visit(v)
  return cycles


@pytest.mark.parametrize("package", ["jopt", "experiments", "benchmarks"])
def test_no_import_cycle(package):
  assert import_cycles(package) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
  pkg = tmp_path / "pkg"
  pkg.mkdir()
  (pkg / "__init__.py").write_text("from pkg import a\n")
  (pkg / "a.py").write_text("import pkg.b\n")
  (pkg / "b.py").write_text("def f():\n  import pkg.a\n")  # inside a function: not a cycle
  monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
  assert import_cycles("pkg") == []
  (pkg / "b.py").write_text("from pkg import a\n")
  assert import_cycles("pkg") == [["pkg", "pkg.a", "pkg.b"]]


def test_no_twin_file_names_in_the_library():
  names = collections.defaultdict(list)
  for path in (ROOT / "jopt" / "_src").rglob("*.py"):
    if path.name != "__init__.py":
      names[path.name].append(str(path.relative_to(ROOT)))
  assert {n: p for n, p in names.items() if len(p) > 1} == {}


@pytest.mark.parametrize("init", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "jopt").glob("*/__init__.py"))
                         + ["jopt/__init__.py"])
def test_public_all_is_a_literal_list_of_strings(init):
  tree = ast.parse((ROOT / init).read_text())
  values = [n.value for n in tree.body if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)]
  if init.startswith("jopt/_src"):
    return
  assert len(values) == 1, f"{init}: one literal `__all__` assignment"
  names = ast.literal_eval(values[0])
  assert names and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
