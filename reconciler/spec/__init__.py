"""The spec: what the YAML asks for, loaded from one file or a directory of files.

``load_spec(path)`` returns a SpecDoc (every declared resource with the file:line
of each of its keys) and Diagnostics listing every problem at once: YAML errors,
unknown keys (with "did you mean"), wrong types, duplicates across files,
dangling references and cycles, and each kind's own rules. It never talks to Mold.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, Field, ValidationError, create_model

from reconciler.diagnostics import Diagnostics, SourcePos
from reconciler.model import Address, Declared, Defaults, SpecModel
from reconciler.resources import KIND_ORDER, KINDS
from reconciler.spec.yamlsource import PosMap, load_yaml

__all__ = ["Defaults", "Declared", "SpecDoc", "load_spec", "json_schema", "SECTIONS"]

SECTIONS = {KINDS[k].SECTION: k for k in KIND_ORDER if k in KINDS}
TOP_KEYS = ("version", "defaults", *SECTIONS)
SUPPORTED_VERSIONS = (1,)


@dataclass
class SpecDoc:
    defaults: Defaults
    resources: dict[Address, Declared]
    files: list[str]
    digest: str = ""

    def of_kind(self, kind: str) -> list[Declared]:
        return [d for a, d in self.resources.items() if a.kind == kind]


def load_spec(path: str | FsPath) -> tuple[SpecDoc | None, Diagnostics]:
    diags = Diagnostics()
    files = _spec_files(FsPath(path), diags)
    loaded: list[tuple[str, Any, PosMap]] = []
    for file in files:
        data, positions, file_diags = load_yaml(file.read_bytes(), str(file))
        diags.extend(file_diags)
        if data is None and not file_diags.has_errors:
            data = {}  # an empty file declares nothing, and is still a file of the spec
        if data is not None and not isinstance(data, dict):
            diags.error("a spec file must be a mapping with keys like `isos:` and `vms:`",
                        positions.get((), SourcePos(str(file), 1, 1)))
            continue
        if data is not None:
            loaded.append((str(file), data, positions))
    doc, invalid = _merge(loaded, diags)
    if doc is not None:
        _check_references(doc, diags, invalid)
        for decl in doc.resources.values():
            _check_lifecycle(decl, diags)
            validate = getattr(KINDS[decl.address.kind], "validate", None)
            if validate:
                validate(decl, doc, diags)
        doc.digest = _digest(doc)
    return (doc if not diags.has_errors else None), diags


def _check_lifecycle(decl: Declared, diags: Diagnostics) -> None:
    known = [a.name for a in KINDS[decl.address.kind].ATTRS]
    for i, name in enumerate(decl.spec.lifecycle.ignore_changes):
        if name not in known:
            diags.error(f"`lifecycle.ignore_changes`: {decl.address.kind} has no attribute "
                        f"{name!r}{_did_you_mean(name, known)}",
                        decl.at(f"lifecycle.ignore_changes.{i}"), address=str(decl.address),
                        detail=f"attributes: {', '.join(known)}")


def _spec_files(path: FsPath, diags: Diagnostics) -> list[FsPath]:
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            diags.error(f"no *.yaml files in directory {path}")
        return files
    if path.is_file():
        return [path]
    diags.error(f"spec {path} does not exist")
    return []


def _merge(loaded: list[tuple[str, Any, PosMap]], diags: Diagnostics
           ) -> tuple[SpecDoc, set[Address]]:
    """The merged spec, and the addresses declared with errors (already reported, so a
    reference to one is not a second error)."""
    defaults = Defaults()
    defaults_pos: SourcePos | None = None
    resources: dict[Address, Declared] = {}
    seen: dict[Address, SourcePos] = {}  # every declared address, valid or not
    for file, data, positions in loaded:
        entries = _entry_positions(positions)  # once per file: linear in the spec's size
        for key, value in data.items():
            key_pos = positions.get((key, "<key>"), SourcePos(file, 1, 1))
            if key == "version":
                if value not in SUPPORTED_VERSIONS:
                    diags.error(f"unsupported spec version {value!r} (this mwin reads version 1)",
                                positions.get((key,)))
            elif key == "defaults":
                if defaults_pos is not None:
                    diags.error("`defaults` is set in more than one file", key_pos,
                                detail=f"first set at {defaults_pos}")
                    continue
                defaults_pos = key_pos
                defaults = _validate(Defaults, value, ("defaults",), positions, diags, None) or defaults
            elif key in SECTIONS:
                _add_section(SECTIONS[key], value, positions, entries, resources, diags, file,
                             seen)
            else:
                diags.error(f"unknown top-level key {key!r}{_did_you_mean(key, TOP_KEYS)}", key_pos,
                            detail=f"allowed: {', '.join(TOP_KEYS)}")
    return SpecDoc(defaults, resources, [f for f, _d, _p in loaded]), set(seen) - set(resources)


def _add_section(kind: str, value: Any, positions: PosMap, entries: EntryPositions,
                 resources: dict[Address, Declared], diags: Diagnostics, file: str,
                 seen: dict[Address, SourcePos]) -> None:
    section = KINDS[kind].SECTION
    if value is None:
        return
    if not isinstance(value, dict):
        diags.error(f"`{section}` must be a mapping of names to entries", positions.get((section,)))
        return
    for key, body in value.items():
        address = Address(kind, key)
        pos = positions.get((section, key, "<key>"), SourcePos(file, 1, 1))
        if address in seen:  # also when the first declaration was invalid
            diags.error(f"{address} is declared twice", pos, detail=f"first declared at {seen[address]}")
            continue
        seen[address] = pos
        model = _validate(KINDS[kind].Spec, body if body is not None else {}, (section, key),
                          positions, diags, str(address))
        if model is not None:
            fields = entries.get((section, key), {})
            resources[address] = Declared(address, model, pos, fields)


EntryPositions = dict[tuple[str | int, ...], dict[str, SourcePos]]


def _entry_positions(positions: PosMap) -> EntryPositions:
    """Per (section, key): "field.path" -> position of its value; built once per file, so
    loading stays linear in the spec's size."""
    index: EntryPositions = {}
    for path, pos in positions.items():
        if len(path) > 2 and "<key>" not in path:
            index.setdefault(path[:2], {})[".".join(str(p) for p in path[2:])] = pos
    return index


def _validate(model: type[BaseModel], data: Any, prefix: tuple[str, ...], positions: PosMap,
              diags: Diagnostics, address: str | None) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            _report(model, err, prefix, positions, diags, address)
        return None


def _report(model: type[BaseModel], err: Any, prefix: tuple[str, ...], positions: PosMap,
            diags: Diagnostics, address: str | None) -> None:
    loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
    path = prefix + loc
    dotted = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        pos = positions.get(path + ("<key>",)) or positions.get(path)
        diags.error(f"unknown key {loc[-1]!r}{_did_you_mean(str(loc[-1]), known)}", pos,
                    address=address, detail=f"allowed here: {', '.join(known)}" if known else None)
    elif kind == "missing":
        pos = positions.get(path[:-1] + ("<key>",)) or positions.get(path[:-1])
        diags.error(f"missing required key {dotted!r}", pos, address=address)
    else:
        shown = json.dumps(err.get("input"), ensure_ascii=False, default=str)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        where = f"`{dotted}`: " if dotted else ""
        diags.error(f"{where}{err['msg']} (got {shown})", positions.get(path) or positions.get(prefix),
                    address=address)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        current = _model_in(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_references(doc: SpecDoc, diags: Diagnostics, invalid: set[Address]) -> None:
    edges: dict[Address, list[Address]] = {}
    for address, decl in doc.resources.items():
        edges[address] = []
        for field_name, target in KINDS[address.kind].references(decl.spec):
            if target in invalid:
                continue  # its own errors are reported where it is declared
            if target not in doc.resources:
                same = [str(a) for a in doc.resources if a.kind == target.kind]
                diags.error(f"`{field_name}` refers to {target}, which the spec does not declare",
                            decl.at(field_name), address=str(address),
                            detail=f"declared {target.kind}s: {', '.join(same) or '(none)'}; "
                                   "for an object that exists in Mold use {name: …} or {id: …}")
            else:
                edges[address].append(target)
    for cycle in _cycles(edges):
        first = doc.resources[cycle[0]]
        diags.error("reference cycle: " + " → ".join(str(a) for a in cycle + [cycle[0]]),
                    first.pos, address=str(cycle[0]))


def _cycles(edges: dict[Address, list[Address]]) -> list[list[Address]]:
    found: list[list[Address]] = []
    color: dict[Address, int] = {}
    stack: list[Address] = []

    def visit(node: Address) -> None:
        color[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if color.get(nxt) == 1:
                found.append(stack[stack.index(nxt):])
            elif color.get(nxt) is None:
                visit(nxt)
        stack.pop()
        color[node] = 2

    for node in sorted(edges):
        if node not in color:
            visit(node)
    return found


def _digest(doc: SpecDoc) -> str:
    body = {
        "defaults": doc.defaults.model_dump(mode="json"),
        "resources": {str(a): d.spec.model_dump(mode="json") for a, d in sorted(doc.resources.items())},
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def json_schema() -> dict[str, Any]:
    sections: dict[str, Any] = {  # pydantic field definitions built at run time
        KINDS[k].SECTION: (dict[str, KINDS[k].Spec] | None,  # type: ignore[misc]
                           Field(None, description=f"Resources `{k}.<key>`, by key"))
        for k in KIND_ORDER if k in KINDS
    }
    top = create_model(
        "MwinSpec", __base__=SpecModel,
        version=(int, Field(1, description="Format of the spec; 1 is the only one so far")),
        defaults=(Defaults | None, Field(None, description="Values for every resource that "
                                                           "names none")),
        **sections)
    schema = top.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mwin spec"
    return schema
