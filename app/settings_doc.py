"""The settings reference (a markdown table) generated from the `Settings` model."""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from app import config
from app.config import ROOT, Settings

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _comments() -> dict[str, str]:
    """{field: its comment in app/config.py} (trailing, else the comment lines just above)."""
    src = inspect.getsource(config)
    by_line: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            by_line[tok.start[0]] = tok.string.lstrip("#").strip()
    cls = next(n for n in ast.walk(ast.parse(src))
               if isinstance(n, ast.ClassDef) and n.name == Settings.__name__)
    out: dict[str, str] = {}
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        end = node.end_lineno or node.lineno
        trailing = [by_line[n] for n in range(node.lineno, end + 1) if n in by_line]
        above: list[str] = []
        n = node.lineno - 1
        while n in by_line and src.splitlines()[n - 1].lstrip().startswith("#"):
            above.insert(0, by_line[n])
            n -= 1
        if len(above) == 1 and " " not in above[0]:
            above = []  # a section header ("# web"), not a description
        out[node.target.id] = " ".join(trailing or above)
    return out


def env_names(name: str, info: FieldInfo) -> list[str]:
    """The environment variables that set this field."""
    alias = info.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(c) for c in choices]
    return [f"{Settings.model_config.get('env_prefix', '')}{name}".upper()]


def _default(value: Any) -> str:
    if value is None:
        return "(none)"
    text = str(value) if isinstance(value, Path) else repr(value)
    text = text.replace(str(ROOT), "<repo>").replace(str(Path.home()), "~")
    return f"`{text}`" if text else "`''`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table() -> str:
    """The markdown table: variable(s), type, default, description."""
    notes = _comments()
    rows = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        typ = getattr(info.annotation, "__name__", None) or str(info.annotation)
        typ = str(info.annotation).replace("typing.", "") if "[" in str(info.annotation) else typ
        desc = info.description or notes.get(name, "")
        names = " / ".join(f"`{n}`" for n in env_names(name, info))
        rows.append(f"| {names} | {_cell(typ)} | {_cell(_default(info.default))} | "
                    f"{_cell(desc)} |")
    return "\n".join(rows) + "\n"


def readme_section(readme: str) -> str:
    """The generated table as it sits between the markers in README.md."""
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main() -> int:
    """Print the table (for README.md's settings reference)."""
    print(table(), end="")
    return 0
