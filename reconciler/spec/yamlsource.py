"""Read YAML into plain Python data while remembering where every value came from.

``load_yaml`` returns the data, a map from *path* (tuple of keys and list
indices, e.g. ``("isos", "win2022", "url")``) to the SourcePos of that value,
and diagnostics for anything unreadable. It never raises for bad input:
syntax errors, tabs, non-UTF-8 bytes, duplicate keys, non-string keys and
alias bombs all become diagnostics with a position.
"""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.diagnostics import Diagnostics, SourcePos

__all__ = ["Path", "PosMap", "load_yaml", "MAX_NODES", "MAX_DEPTH"]

Path = tuple[str | int, ...]
PosMap = dict[Path, SourcePos]

# Bounds that keep hostile input cheap: an alias bomb expands to far more nodes
# than any honest spec, and deep nesting is never needed by the schema.
# libyaml's parser when PyYAML was built with it (same marks, ~10x faster), else pure Python.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_BYTES = 10 * 1024 * 1024


class _TooBig(Exception):
    def __init__(self, why: str, node: yaml.Node) -> None:
        self.why = why
        self.node = node


def load_yaml(raw: bytes, filename: str) -> tuple[Any, PosMap, Diagnostics]:
    diags = Diagnostics()
    positions: PosMap = {}
    if len(raw) > MAX_BYTES:
        diags.error(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB", SourcePos(filename, 1, 1))
        return None, positions, diags
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.error("file is not valid UTF-8", SourcePos(filename, line, col),
                    detail=f"byte 0x{raw[exc.start]:02x} at offset {exc.start}")
        return None, positions, diags
    try:
        too_deep, node = _parse(text)
        if too_deep is not None:
            diags.error(f"nesting deeper than {MAX_DEPTH} levels", _mark_pos(filename, too_deep))
            return None, positions, diags
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _mark_pos(filename, mark) if mark else SourcePos(filename, 1, 1)
        diags.error(f"YAML syntax error: {_syntax_message(exc)}", pos,
                    detail=_syntax_hint(exc))
        return None, positions, diags
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        diags.error(f"character {_char_name(exc.character)} is not allowed in YAML",
                    SourcePos(filename, line, col))
        return None, positions, diags
    except yaml.YAMLError as exc:  # pragma: no cover - other errors without marks
        diags.error(f"YAML error: {exc}", SourcePos(filename, 1, 1))
        return None, positions, diags
    if node is None:
        return None, positions, diags
    builder = _Builder(filename, positions, diags)
    try:
        _Sizer().size(node, 0)  # fails fast on alias bombs, before building anything
        data = builder.build(node, (), 0)
    except _TooBig as big:
        diags.error(big.why, builder.pos(big.node))
        return None, {}, diags
    return data, positions, diags


def _mark_pos(filename: str, mark: Any) -> SourcePos:
    return SourcePos(filename, mark.line + 1, mark.column + 1)


def _parse(text: str) -> tuple[Any, Any]:
    """(mark of a too-deep collection or None, root node). libyaml first; on any error the
    pure-Python parser reads it again, for its more precise messages."""
    if _LOADER is not yaml.SafeLoader:
        try:
            return _parse_with(text, _LOADER)
        except yaml.YAMLError:
            pass
    return _parse_with(text, yaml.SafeLoader)


def _parse_with(text: str, loader: Any) -> tuple[Any, Any]:
    too_deep = _too_deep(text, loader)
    return (too_deep, None) if too_deep is not None else (None, yaml.compose(text, Loader=loader))


def _too_deep(text: str, loader: Any) -> Any:
    """The start of the first collection nested deeper than MAX_DEPTH, found with the
    event parser (iterative), before the recursive composer could overflow the stack."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML splits its message into context ("while scanning a quoted scalar") and
    problem ("found unexpected end of stream"); say both, with the context's position."""
    problem = exc.problem or "invalid YAML"
    if not exc.context:
        return problem
    context = exc.context
    mark = exc.context_mark
    if mark is not None and exc.problem_mark is not None and (
            mark.line, mark.column) != (exc.problem_mark.line, exc.problem_mark.column):
        context += f" (started at line {mark.line + 1}, column {mark.column + 1})"
    return f"{context}: {problem}"


def _syntax_hint(exc: yaml.MarkedYAMLError) -> str | None:
    problem = exc.problem or ""
    if "'\\t'" in problem:
        return "YAML does not allow tabs for indentation: indent with spaces"
    if "another document" in problem:
        return "a spec file holds one YAML document: remove the extra `---`, or split it into files"
    return None


def _char_name(char: int | str) -> str:
    code = char if isinstance(char, int) else ord(char[:1] or "\0")
    return f"U+{code:04X}"


class _Sizer:
    """How many values a node graph expands to, counting each shared (aliased) node once
    per use but computing it once, so an alias bomb is refused in time linear in the file."""

    def __init__(self) -> None:
        self.known: dict[int, int] = {}

    def size(self, node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels", node)
        if id(node) in self.known:
            return self.known[id(node)]
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(self.size(item, depth + 1) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(self.size(k, depth + 1) + self.size(v, depth + 1) for k, v in node.value)
        if total > MAX_NODES:
            raise _TooBig(f"document expands to more than {MAX_NODES} values (alias bomb?)", node)
        self.known[id(node)] = total
        return total


class _Builder:
    def __init__(self, filename: str, positions: PosMap, diags: Diagnostics) -> None:
        self.filename = filename
        self.positions = positions
        self.diags = diags
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def pos(self, node: yaml.Node) -> SourcePos:
        return SourcePos(self.filename, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(f"document expands to more than {MAX_NODES} values (alias bomb?)", node)
        if depth > MAX_DEPTH:
            raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels", node)
        if "<key>" not in path:  # key positions are recorded by _mapping
            self.positions.setdefault(path, self.pos(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.diags.error(f"cannot read value: {problem}", self.pos(node))
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, SourcePos] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.diags.error("YAML merge keys (<<) are not supported in specs", self.pos(key_node))
                continue
            key = self.build(key_node, path + ("<key>",), depth + 1)
            if not isinstance(key, str):
                self.diags.error(f"keys must be strings, got {type(key).__name__} {key!r}",
                                 self.pos(key_node), detail="quote the key if it is meant as text")
                key = str(key)
            if key in seen:
                self.diags.error(f"duplicate key {key!r}", self.pos(key_node),
                                 detail=f"first defined at {seen[key]}")
                continue
            seen[key] = self.pos(key_node)
            result[key] = self.build(value_node, path + (key,), depth + 1)
            self.positions[path + (key,)] = self.pos(value_node)
            self.positions[path + (key, "<key>")] = self.pos(key_node)
        return result
