"""YAML with positions: every value's file:line:col, and hostile input as diagnostics."""

from __future__ import annotations

import time

from reconciler.diagnostics import SourcePos
from reconciler.spec.yamlsource import MAX_DEPTH, MAX_NODES, load_yaml


def errors(raw: bytes) -> list[str]:
    _data, _pos, diags = load_yaml(raw, "f.yaml")
    return [d.render() for d in diags]


def test_positions_of_keys_values_and_list_items() -> None:
    raw = b"isos:\n  w:\n    url: x\n    list: [1, 2]\n"
    data, pos, diags = load_yaml(raw, "f.yaml")
    assert not diags.items
    assert data == {"isos": {"w": {"url": "x", "list": [1, 2]}}}
    assert pos[("isos", "w", "url")] == SourcePos("f.yaml", 3, 10)
    assert pos[("isos", "w", "url", "<key>")] == SourcePos("f.yaml", 3, 5)
    assert pos[("isos", "w", "<key>")] == SourcePos("f.yaml", 2, 3)
    assert pos[("isos", "w", "list", 1)] == SourcePos("f.yaml", 4, 15)
    assert ("<key>",) not in pos  # key nodes do not leave stray entries


def test_hangul_values_keep_positions() -> None:
    raw = "isos:\n  w:\n    display_text: 윈도우 서버\n    url: u\n".encode()
    data, pos, _diags = load_yaml(raw, "f.yaml")
    assert data["isos"]["w"]["display_text"] == "윈도우 서버"
    assert pos[("isos", "w", "url")] == SourcePos("f.yaml", 4, 10)


def test_duplicate_key_names_both_positions_and_keeps_the_first() -> None:
    data, _pos, diags = load_yaml(b"a: 1\nb:\n  c: 2\na: 3\n", "f.yaml")
    assert data == {"a": 1, "b": {"c": 2}}
    assert [d.render() for d in diags] == [
        "f.yaml:4:1: error: duplicate key 'a'\n    first defined at f.yaml:1:1"]


def test_tab_indentation_is_an_error_with_a_hint() -> None:
    assert errors(b"a:\n\tb: 1\n") == [
        "f.yaml:2:1: error: YAML syntax error: while scanning for the next token: found "
        "character '\\t' that cannot start any token\n"
        "    YAML does not allow tabs for indentation: indent with spaces"]


def test_non_utf8_names_line_column_and_byte() -> None:
    assert errors(b"a: x\nb: \xc3\x28\n") == [
        "f.yaml:2:4: error: file is not valid UTF-8\n    byte 0xc3 at offset 8"]


def test_control_character_is_reported_at_its_position() -> None:
    assert errors(b"a: 1\nb: x\x00\n") == [
        "f.yaml:2:5: error: character U+0000 is not allowed in YAML"]


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.monotonic()
    data, _pos, diags = load_yaml("\n".join(lines).encode(), "f.yaml")
    assert time.monotonic() - started < 2  # expanded, it would take far longer (a loaded CI has margin)
    assert data is None
    assert [d.summary for d in diags] == [
        f"document expands to more than {MAX_NODES} values (alias bomb?)"]


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    flow = b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"
    block = b"a: " + b"{b: " * 3000 + b"1" + b"}" * 3000 + b"\n"
    for raw in (flow, block):
        data, _pos, diags = load_yaml(raw, "f.yaml")
        assert data is None
        assert [d.summary for d in diags] == [f"nesting deeper than {MAX_DEPTH} levels"]


def test_recursive_alias_is_refused() -> None:
    data, _pos, diags = load_yaml(b"a: &x [*x]\n", "f.yaml")
    assert data is None and diags.has_errors


def test_non_string_keys_are_reported_each_at_its_key() -> None:
    data, _pos, diags = load_yaml(b"1: a\ntrue: b\nnull: c\n", "f.yaml")
    assert data == {"1": "a", "True": "b", "None": "c"}
    assert [(d.pos.line, d.summary) for d in diags if d.pos] == [
        (1, "keys must be strings, got int 1"),
        (2, "keys must be strings, got bool True"),
        (3, "keys must be strings, got NoneType None"),
    ]
    assert {d.detail for d in diags} == {"quote the key if it is meant as text"}


def test_syntax_error_says_where_the_construct_started() -> None:
    assert errors(b"a: [1\n") == [
        "f.yaml:2:1: error: YAML syntax error: while parsing a flow sequence (started at line 1, "
        "column 4): expected ',' or ']', but got '<stream end>'"]


def test_second_document_is_refused_with_a_hint() -> None:
    assert errors(b"a: 1\n---\nb: 2\n") == [
        "f.yaml:2:1: error: YAML syntax error: expected a single document in the stream (started "
        "at line 1, column 1): but found another document\n"
        "    a spec file holds one YAML document: remove the extra `---`, or split it into files"]


def test_merge_keys_and_python_tags_are_refused() -> None:
    assert errors(b"a: &x {b: 1}\nc:\n  <<: *x\n") == [
        "f.yaml:3:3: error: YAML merge keys (<<) are not supported in specs"]
    assert errors(b"a: !!python/object:os.system x\n") == [
        "f.yaml:1:4: error: cannot read value: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object:os.system'"]


def test_empty_file_and_byte_order_mark() -> None:
    assert load_yaml(b"", "f.yaml")[0] is None
    assert not load_yaml(b"", "f.yaml")[2].items
    data, pos, diags = load_yaml("\ufeffa: 1\n".encode(), "f.yaml")
    assert data == {"a": 1} and not diags.items
    assert pos[("a",)] == SourcePos("f.yaml", 1, 4)
