"""Reading a mapping and everything it includes, in order, each file parsed once.

File access goes through a `reader` so the rest of the compiler stays pure and tests can feed
files from memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from syncmap.compiler import ast
from syncmap.compiler.codes import INCLUDE_CYCLE, INCLUDE_NOT_FOUND, INCLUDE_OUTSIDE
from syncmap.compiler.diagnostics import ERROR, Diagnostic, Label
from syncmap.compiler.parser import parse

Reader = Callable[[str], str]


def read_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the text


@dataclass
class SourceSet:
    """A root mapping with its includes: texts by file name, parsed mappings in include order."""

    root: str
    texts: dict[str, str] = field(default_factory=dict)
    mappings: list[ast.Mapping] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _display(path: str) -> str:
    """Paths as the user would write them: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _cycle(files: list[str], includes: list[ast.Include | None]) -> Diagnostic:
    """SM102 for the loop `files[0] -> files[1] -> … -> files[0]`, where `includes[i]` is the
    include in `files[i]` that leads on. The loop is told from its smallest file name and
    blamed on the include that returns there, so every root that runs into one loop (`syncmap
    check a.syncmap b.syncmap` with a and b including each other) reports it identically, once."""
    first = files.index(min(files))
    loop = files[first:] + files[:first]
    closing = includes[first - 1]
    assert closing is not None
    return Diagnostic(
        INCLUDE_CYCLE,
        ERROR,
        f"include cycle: {' -> '.join(loop + [loop[0]])}",
        closing.span,
        (Label(closing.span, "this include closes the loop"),),
        help="remove one include of the chain",
    )


def inside(folder: str, path: str) -> bool:
    """Whether `path`, with symbolic links followed, lies in `folder` (itself resolved)."""
    real = os.path.realpath(path)
    return os.path.commonpath([real, folder]) == folder


def _unreadable(include: ast.Include, exc: Exception) -> Diagnostic:
    # The codec's own text (byte offsets, "invalid start byte") says nothing to a mapping's
    # author; a non-UTF-8 include gets the message a non-UTF-8 root gets.
    reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else getattr(exc, "strerror", None) or str(exc)
    return Diagnostic(
        INCLUDE_NOT_FOUND,
        ERROR,
        f"cannot read included file `{include.path}`",
        include.span,
        (Label(include.span, reason),),
        help="paths are relative to the including file",
    )


def load(root: str, reader: Reader = read_file) -> SourceSet:
    """Read `root` and, depth first, every file it includes (each once). Includes stay inside
    the root's folder: anything else is SM120 and is never read."""
    result = SourceSet(root=_display(root))
    seen: set[str] = set()
    folder = os.path.realpath(os.path.dirname(os.path.abspath(root)))

    def visit(path: str, chain: list[tuple[str, ast.Include | None]]) -> None:
        name = _display(path)
        if name in seen:
            return
        seen.add(name)
        try:
            text = reader(path)
        except (OSError, UnicodeDecodeError) as exc:
            include = chain[-1][1] if chain else None
            if include is None:
                raise
            result.diagnostics.append(_unreadable(include, exc))
            return
        result.texts[name] = text
        parsed = parse(text, name)
        result.diagnostics.extend(parsed.diagnostics)
        if parsed.mapping is None:
            return
        result.mappings.append(parsed.mapping)
        here = [name for name, _ in chain] + [name]
        for include in parsed.mapping.of_type(ast.Include):
            target = os.path.normpath(os.path.join(os.path.dirname(path), include.path))
            target_name = _display(target)
            if not inside(folder, target):
                result.diagnostics.append(
                    Diagnostic(
                        INCLUDE_OUTSIDE,
                        ERROR,
                        f'`include "{include.path}"` leaves the mapping\'s folder',
                        include.span,
                        (Label(include.span, "outside the mapping's folder: not read"),),
                        help="move the file into the mapping's folder and include it by a relative path",
                    )
                )
                continue
            if target_name in here:
                start = here.index(target_name)
                result.diagnostics.append(_cycle(here[start:], [inc for _, inc in chain[start:]] + [include]))
                continue
            visit(target, chain + [(name, include)])

    visit(root, [])
    return result
