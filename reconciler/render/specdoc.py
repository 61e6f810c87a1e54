"""docs/spec.md: the reference of the spec, key by key, generated from the spec models.

Every key of every section (nested mappings flattened: ``boot.type``) with its type, default,
description (from the models' ``description=``, as the JSON Schema has them) and, for a
resource, what a change costs (from the kind's attribute table, ``ATTRS``). It renders
whatever fields the models have, so after changing a model regenerate the file:

    python -m reconciler.render.specdoc > docs/spec.md

A test fails while docs/spec.md differs from what this prints.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from reconciler.resources import KIND_ORDER, KINDS
from reconciler.resources.base import Attr, OnChange
from reconciler.spec import json_schema

__all__ = ["render_spec_doc", "main", "COMMAND"]

COMMAND = "python -m reconciler.render.specdoc > docs/spec.md"

# What a change of an attribute costs, as the "change" column says it.
CHANGE_WORDS = {
    OnChange.IN_PLACE: "in place",
    OnChange.NEEDS_STOP: "in place, VM stopped",
    OnChange.REPLACE: "replacement",
    OnChange.STEP: "own step",
    OnChange.DEPLOY_ONLY: "at creation only",
}
NOT_IN_MOLD = "mwin only"

INTRO = f"""\
# The spec, key by key

<!-- Generated from the spec models: do not edit. Regenerate with
     `{COMMAND}` (a test fails while it differs). -->

A spec is YAML: one file, or a directory whose `*.yaml` files are merged. Each section maps
keys to resources; `<kind>.<key>` is a resource's address (`vm.win2022-master`), and the key is
its name in Mold unless `name:` says otherwise. A string names another resource of the spec;
`{{name: …}}` or `{{id: …}}` names an object that exists in Mold and is not managed. Zones,
offerings and OS types are looked up in Mold by name or id. `mwin validate` checks a spec
offline; `mwin schema` prints the same information as a JSON Schema for editors.

The **change** column says what a plan does when the value changes:

| change | what the plan does |
|---|---|
| in place (command) | one API call changes it while the object exists |
| in place, VM stopped | changed in place, but Mold needs the VM stopped for it |
| own step | a dedicated action: attach/detach an ISO, start/stop, a snapshot, a copy, … |
| replacement | the object is deleted and created again (`-/+` in the plan) |
| at creation only | set when the object is made; a later change is a warning, never an action (`--replace ADDRESS` makes it anew) |
| {NOT_IN_MOLD} | read by mwin itself (safety rules, retention), never sent to Mold as an attribute |
"""


def render_spec_doc() -> str:
    schema = json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    top = schema["properties"]
    out = [INTRO, "## Top level", "", "| key | type | default | description |", "|---|---|---|---|"]
    out += [_row([f"`{key}`", _type(prop, defs), _default(prop, False), _text(prop)])
            for key, prop in top.items()]
    defaults = _model(top["defaults"], defs)
    if defaults is not None:
        out += ["", "## `defaults`", "", "Values for every resource that names none.", "",
                "| key | type | default | description |", "|---|---|---|---|"]
        out += [_row([f"`{key}`", kind, default, text])
                for key, kind, default, text in _flatten(defaults, defs)]
    for kind in KIND_ORDER:
        if kind not in KINDS:
            continue
        module = KINDS[kind]
        model = _model(top[module.SECTION], defs)
        if model is None:
            continue
        attrs = {a.name: a for a in module.ATTRS}
        out += ["", f"## `{module.SECTION}`", "", f"Each key is a resource `{kind}.<key>`.", "",
                "| key | type | default | change | description |", "|---|---|---|---|---|"]
        out += [_row([f"`{key}`", kind_text, default, _change(key, attrs), text])
                for key, kind_text, default, text in _flatten(model, defs)]
    return "\n".join(out) + "\n"


def _flatten(model: dict[str, Any], defs: dict[str, Any], prefix: str = ""
             ) -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) of every key, nested models expanded after
    their own row."""
    rows = []
    required = set(model.get("required", []))
    for key, prop in model.get("properties", {}).items():
        name = f"{prefix}{key}"
        rows.append((name, _type(prop, defs), _default(prop, key in required), _text(prop)))
        nested = _model(prop, defs)
        if nested is not None and nested.get("title") != "Ref":
            rows += _flatten(nested, defs, f"{name}.")
    return rows


def _model(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The object model a property holds (directly, as the values of a mapping, or as the one
    non-null choice), else None."""
    if "$ref" in prop:
        target = defs[prop["$ref"].rsplit("/", 1)[-1]]
        return target if target.get("type") == "object" else None
    if isinstance(prop.get("additionalProperties"), dict):
        return _model(prop["additionalProperties"], defs)
    choices = [c for c in prop.get("anyOf", []) if c.get("type") != "null"]
    return _model(choices[0], defs) if len(choices) == 1 else None


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return "`{name: …}` or `{id: …}`" if name == "Ref" else "mapping"
    if "enum" in prop:
        return " or ".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "anyOf" in prop:
        choices = [c for c in prop["anyOf"] if c.get("type") != "null"]
        text = " or ".join(dict.fromkeys(_type(c, defs) for c in choices))
        return text + (" or null" if len(choices) < len(prop["anyOf"]) else "")
    kind = prop.get("type")
    if kind == "array":
        items = _type(prop.get("items", {}), defs)
        items = f"({items})" if " or " in items else items
        least = f" (at least {prop['minItems']})" if prop.get("minItems") else ""
        return f"list of {items}{least}"
    if kind == "object":
        values = prop.get("additionalProperties")
        if isinstance(values, dict) and _model(values, defs) is not None:
            return "mapping: key → resource"
        return f"mapping of {_type(values, defs)}" if isinstance(values, dict) else "mapping"
    bounds = [f"≥ {prop['minimum']}" if "minimum" in prop else "",
              f"≤ {prop['maximum']}" if "maximum" in prop else ""]
    return " ".join([str(kind or "any"), *[b for b in bounds if b]])


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in prop:
        return "—"
    return f"`{json.dumps(prop['default'], ensure_ascii=False)}`"


def _text(prop: dict[str, Any]) -> str:
    return str(prop.get("description", ""))


def _change(key: str, attrs: dict[str, Attr]) -> str:
    """The cost of changing ``key``: its own attribute's, else that of the mapping it is in
    (``share.accounts`` changes as ``share`` does), else "see below" for a mapping whose keys
    have their own, else mwin's alone."""
    parts = key.split(".")
    attr = next((attrs[".".join(parts[:n])] for n in range(len(parts), 0, -1)
                 if ".".join(parts[:n]) in attrs), None)
    if attr is None:
        nested = [a for name, a in attrs.items() if name.startswith(f"{key}.")]
        return "see below" if nested else NOT_IN_MOLD
    words = CHANGE_WORDS[attr.on_change]
    if attr.on_change is OnChange.IN_PLACE and attr.command:
        return f"{words} ({attr.command})"
    return words


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def main() -> None:
    sys.stdout.write(render_spec_doc())


if __name__ == "__main__":
    main()
