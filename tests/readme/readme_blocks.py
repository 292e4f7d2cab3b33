"""Reads README.md into sections, fenced code blocks and the commands whose output it quotes.

A section starts at a `## ` heading and is found by the heading's text (a prefix, case-insensitive) or by
the `<!-- SECTION:name -->` marker comment inside it, so the lookup survives reworded headings and moved
sections. Inside a section, a fenced block with no language that follows a paragraph naming an inline
command (`` `python examples/x.py` ``, `` `python -m pkg.mod --flag` ``) is that command's quoted output.
"""

import ast
import dataclasses
import io
import math
import os
import re
import tokenize
from typing import Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"<!--\s*SECTION:([\w-]+)\s*-->")
_COMMAND = re.compile(r"`((?:python|python3) [^`]+)`")


@dataclasses.dataclass
class Block:
  """A fenced block: its language ("" if none), text, first line number and the prose just before it."""

  lang: str
  text: str
  line: int
  before: str


@dataclasses.dataclass
class Section:
  title: str
  markers: list
  blocks: list
  line: int


def read_sections(path: str = README) -> list:
  """The README's `## ` sections, each with its fenced blocks and marker names."""
  with open(path) as f:
    lines = f.read().splitlines()
  sections = [Section("", [], [], 1)]
  prose, i, last_was_block, paragraph_ended = [], 0, False, False
  while i < len(lines):
    line = lines[i]
    fence = _FENCE.match(line)
    if fence:
      start, body = i + 1, []
      i += 1
      while i < len(lines) and not lines[i].startswith("```"):
        body.append(lines[i])
        i += 1
      before = "\n".join(prose)
      if not before and sections[-1].blocks and last_was_block:
        before = sections[-1].blocks[-1].before  # output right after the code that printed it
      sections[-1].blocks.append(Block(fence.group(1), "\n".join(body) + "\n", start + 1, before))
      prose, last_was_block, paragraph_ended = [], True, False
    elif line.startswith("## "):
      sections.append(Section(line[3:].strip(), [], [], i + 1))
      prose, last_was_block, paragraph_ended = [], False, False
    else:
      sections[-1].markers += _MARKER.findall(line)
      if line.strip():
        prose = ([] if paragraph_ended else prose) + [line]
        paragraph_ended, last_was_block = False, False
      else:
        paragraph_ended = True  # `prose` keeps the last paragraph until the next one starts
    i += 1
  return sections


def section(name: str, sections: Optional[list] = None) -> Section:
  """The section whose marker is `name`, or whose heading starts with `name` (case-insensitive)."""
  sections = read_sections() if sections is None else sections
  for s in sections:
    if name in s.markers:
      return s
  for s in sections:
    if s.title.lower().startswith(name.lower()):
      return s
  raise LookupError(f"README.md has no section marked <!-- SECTION:{name} --> or headed '## {name}...'; "
                    f"headings: {[s.title for s in sections if s.title]}")


def quoted_outputs(sections: Optional[list] = None) -> list:
  """(section title, command, quoted output, line) for each output block that follows a named command."""
  sections = read_sections() if sections is None else sections
  out = []
  for s in sections:
    for block in s.blocks:
      if block.lang:
        continue
      commands = _COMMAND.findall(block.before)
      if commands:
        out.append((s.title, commands[-1].strip(), block.text, block.line))
  return out


def shell_commands(sections: Optional[list] = None) -> list:
  """(section title, command, line) for each command in a ```bash block (continuation lines joined)."""
  sections = read_sections() if sections is None else sections
  out = []
  for s in sections:
    for block in s.blocks:
      if block.lang not in ("bash", "sh", "shell"):
        continue
      joined = block.text.replace("\\\n", " ")
      for k, line in enumerate(joined.splitlines()):
        command = line.split("#", 1)[0].strip()
        if command:
          out.append((s.title, " ".join(command.split()), block.line + k))
  return out


# ---------------------------------------------------------------------------------------------------
# Comparing quoted figures with printed ones.

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _tokens(line: str) -> list:
  return line.split()


_SECONDS = re.compile(r"^s[,;:.)]*$")


def _is_timing(tokens: list, k: int) -> bool:
  """A wall-clock figure: a number followed by "s" (1.3 s), or in a `wall_s` row."""
  nxt = tokens[k + 1] if k + 1 < len(tokens) else ""
  return bool(_SECONDS.match(nxt)) or any("wall" in t for t in tokens[:k])


def figures_match(quoted: str, printed: str, rtol: float = 5e-3, tiny: float = 1e-5) -> bool:
  """Same words; numbers equal within `rtol`, or both below `tiny` in magnitude (rounding-noise figures).

  Wall-clock times (a number followed by `s`, or a `wall_s` row) only need to be numbers.
  """
  a, b = _tokens(quoted), _tokens(printed)
  if len(a) != len(b):
    return False
  for k, (x, y) in enumerate(zip(a, b)):
    if _NUMBER.match(x) and _NUMBER.match(y) and _is_timing(a, k):
      continue
    if _NUMBER.match(x) and _NUMBER.match(y):
      fx, fy = float(x), float(y)
      if abs(fx) < tiny and abs(fy) < tiny:
        continue
      if not math.isclose(fx, fy, rel_tol=rtol, abs_tol=0.0):
        return False
    elif x != y:
      return False
  return True


def check_quoted_output(quoted: str, printed: str, **tolerances) -> list:
  """The quoted lines that no printed line matches (in order: each quoted line after the previous match)."""
  printed_lines = [l for l in printed.splitlines() if l.strip()]
  missing, start = [], 0
  for line in (l for l in quoted.splitlines() if l.strip()):
    for j in range(start, len(printed_lines)):
      if figures_match(line, printed_lines[j], **tolerances):
        start = j + 1
        break
    else:
      missing.append(line)
  return missing


# ---------------------------------------------------------------------------------------------------
# Python snippets whose comments quote results: `expr  # literal` and `print(...)  # words`.

def _comments(source: str) -> dict:
  out = {}
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type == tokenize.COMMENT:
      out[tok.start[0]] = tok.string[1:].strip()
  return out


def instrument(source: str) -> tuple:
  """The snippet with each commented expression statement turned into a check, and how many checks.

  `[f(t) for t in ...]   # [0.0, 0.5]` becomes `__readme_check(<expr>, "[0.0, 0.5]", line)`;
  `print(a, b)   # 1.0 0.0099` becomes `__readme_check_print((a, b), "1.0 0.0099", line)`. Other comments
  (prose) are left alone: a comment counts as a quoted result only if it parses as a literal (an
  expression) or, after a print, as numbers and words that the printed text must match.
  """
  tree = ast.parse(source)
  comments = _comments(source)
  lines = source.splitlines()
  n = 0
  for stmt in sorted((s for s in tree.body if isinstance(s, ast.Expr)), key=lambda s: -s.lineno):
    comment = comments.get(stmt.end_lineno)
    if not comment:
      continue
    expr_src = ast.get_source_segment(source, stmt.value)
    is_print = isinstance(stmt.value, ast.Call) and getattr(stmt.value.func, "id", "") == "print"
    if is_print:
      args = ", ".join(ast.get_source_segment(source, a) for a in stmt.value.args)
      new = f"__readme_check_print(({args},), {comment!r}, {stmt.lineno})"
    else:
      try:
        ast.literal_eval(comment)
      except (ValueError, SyntaxError):
        continue
      new = f"__readme_check({expr_src}, {comment!r}, {stmt.lineno})"
    indent = lines[stmt.lineno - 1][: len(lines[stmt.lineno - 1]) - len(lines[stmt.lineno - 1].lstrip())]
    lines[stmt.lineno - 1: stmt.end_lineno] = [indent + new]
    n += 1
  return "\n".join(lines) + "\n", n


CHECK_PRELUDE = '''
import ast as __ast, math as __math
__readme_checks = []
def __readme_close(a, b):
  if isinstance(b, (list, tuple)):
    return len(a) == len(b) and all(__readme_close(x, y) for x, y in zip(a, b))
  return __math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)
def __readme_check(value, quoted, line):
  expected = __ast.literal_eval(quoted)
  assert __readme_close(value, expected), f"README line {line}: got {value!r}, the README says {quoted}"
  __readme_checks.append(line)
def __readme_num(s):
  try:
    return float(s)
  except ValueError:
    return None
def __readme_check_print(values, quoted, line):
  printed = " ".join(str(v) for v in values)
  print(printed)
  got, want = printed.split(), quoted.split()
  ok = len(got) == len(want) and all(
      __math.isclose(__readme_num(g), __readme_num(w), rel_tol=1e-6)
      if __readme_num(g) is not None and __readme_num(w) is not None else g == w
      for g, w in zip(got, want))
  assert ok, f"README line {line}: printed {printed!r}, the README says {quoted!r}"
  __readme_checks.append(line)
'''
