"""lifecycle.ignore_changes / protect in the planner and the spec loader, and `mwin schema`
against the example specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import PlanError
from reconciler.planner import make_plan
from reconciler.spec import json_schema, load_spec
from tests.unit.resources.test_iso_planning import SPEC, iso, live, spec_from, state

ROOT = Path(__file__).resolve().parents[2]
IGNORING = SPEC + "    lifecycle: {ignore_changes: [display_text]}\n"
RECORDED = {"name": "win2022", "display_text": "Windows Server 2022"}


def test_ignored_field_never_produces_an_action(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, IGNORING.replace("display_text: Windows Server 2022",
                                               "display_text: 새 설명"))
    plan, _ = make_plan(doc, state(**{"iso.win2022": ("i1", RECORDED)}),
                        live(iso("i1", display_text="changed in Mold")))
    assert plan.actions == []


def test_update_of_another_field_keeps_mold_value_of_an_ignored_one(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, IGNORING.replace("    url:", "    name: ws2022\n    url:"))
    plan, _ = make_plan(doc, state(**{"iso.win2022": ("i1", RECORDED)}),
                        live(iso("i1", display_text="changed in Mold")))
    [action] = plan.actions
    assert (action.operation.value, action.changed) == ("update", ["name"])
    assert action.after is not None and action.after["display_text"] == "changed in Mold"


def test_ignored_field_is_still_set_on_create(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, IGNORING), state(), live())
    assert plan.actions[0].after is not None
    assert plan.actions[0].after["display_text"] == "Windows Server 2022"


def test_unknown_ignored_field_is_a_validation_error_with_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC + "    lifecycle:\n      ignore_changes: [name, display_txt]\n")
    doc, diags = load_spec(path)
    assert doc is None
    [error] = diags.errors
    assert error.render().startswith(f"{path}:9:30:")  # the item itself
    assert "has no attribute 'display_txt' (did you mean 'display_text'?)" in error.render()


def test_protected_iso_blocks_a_replacing_plan_naming_file_and_line(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC + "    lifecycle: {protect: true}\n")
    with pytest.raises(PlanError) as caught:
        make_plan(doc, state(**{"iso.win2022": ("i1", RECORDED)}),
                  live(iso("i1", url="https://example.com/old.iso")))
    [error] = caught.value.diagnostics.errors
    assert error.render().startswith(f"{tmp_path / 'spec.yaml'}:8:")
    assert "iso.win2022" in error.render() and "would replace it" in error.render()


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
         "integer": int, "number": (int, float)}


def schema_errors(schema: dict[str, Any], data: Any, root: dict[str, Any], at: str = "") -> list[str]:
    """The part of JSON Schema that `mwin schema` uses ($ref, anyOf, oneOf of required keys,
    type, properties, additionalProperties, required, items, enum), since jsonschema is not a
    dependency."""
    if "$ref" in schema:
        return schema_errors(root["$defs"][schema["$ref"].split("/")[-1]], data, root, at)
    if "anyOf" in schema:
        found = [schema_errors(s, data, root, at) for s in schema["anyOf"]]
        fitting = [f for f in found if not (len(f) == 1 and f[0].startswith(f"{at}: ")
                                            and " is not of type " in f[0])]
        return [] if [] in found else [e for f in (fitting or found) for e in f]
    if "type" in schema and (not isinstance(data, TYPES[schema["type"]])
                             or (isinstance(data, bool) and schema["type"] in ("integer", "number"))):
        return [f"{at}: {data!r} is not of type {schema['type']}"]
    if "enum" in schema and data not in schema["enum"]:
        return [f"{at}: {data!r} is not one of {schema['enum']}"]
    errors = []
    if "oneOf" in schema and isinstance(data, dict):
        fits = [s for s in schema["oneOf"] if all(k in data for k in s.get("required", []))]
        if len(fits) != 1:
            keys = " or ".join(repr(k) for s in schema["oneOf"] for k in s.get("required", []))
            errors.append(f"{at}: exactly one of {keys} is required")
    if isinstance(data, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
        errors += [f"{at}: {k!r} is required" for k in schema.get("required", []) if k not in data]
        for key, value in data.items():
            sub = props.get(key, extra)
            if sub is False:
                errors.append(f"{at}: {key!r} was unexpected")
            elif isinstance(sub, dict):
                errors += schema_errors(sub, value, root, f"{at}.{key}")
    if isinstance(data, list) and "items" in schema:
        for i, item in enumerate(data):
            errors += schema_errors(schema["items"], item, root, f"{at}[{i}]")
    return errors


def test_schema_validates_every_example_spec_and_rejects_broken_ones() -> None:
    schema = json_schema()
    examples = sorted((ROOT / "specs").rglob("*.yaml"))
    assert len(examples) >= 13
    for example in examples:
        data = yaml.safe_load(example.read_text(encoding="utf-8"))
        assert schema_errors(schema, data, schema) == [], example
    broken = yaml.safe_load((ROOT / "specs" / "quickstart.yaml").read_text(encoding="utf-8"))
    broken["isos"]["win2022"]["lifecycle"] = {"protect": "yes", "ignore": []}
    del broken["isos"]["virtio-win"]["url"]
    broken["isos"]["virtio-win"]["bootable"] = "no"
    broken["zones"] = {}
    assert set(schema_errors(schema, broken, schema)) == {
        ": 'zones' was unexpected",
        ".isos.virtio-win.bootable: 'no' is not of type boolean",
        ".isos.virtio-win: exactly one of 'url' or 'file' or 'build' is required",
        ".isos.win2022.lifecycle.protect: 'yes' is not of type boolean",
        ".isos.win2022.lifecycle: 'ignore' was unexpected",
    }
