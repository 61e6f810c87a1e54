"""Parameter flattening: Python values → Mold's name=value strings."""

from __future__ import annotations

import pytest

from reconciler.mold.encoding import encode_params


def test_scalars():
    assert encode_params({"a": "x", "b": True, "c": False, "d": 3, "e": 1.5}) == {
        "a": "x", "b": "true", "c": "false", "d": "3", "e": "1.5",
    }


def test_none_and_empty_lists_are_not_sent():
    assert encode_params({"a": None, "b": [], "c": ""}) == {"c": ""}


def test_lists_are_comma_joined():
    assert encode_params({"networkids": ["n1", "n2"], "ids": ("a",)}) == {
        "networkids": "n1,n2", "ids": "a",
    }


def test_list_element_with_comma_is_refused():
    with pytest.raises(ValueError, match="networkids"):
        encode_params({"networkids": ["a,b"]})


def test_tags_map_parameter():
    assert encode_params({"tags": [{"key": "k", "value": "v"}, {"key": "k2", "value": "v2"}]}) == {
        "tags[0].key": "k", "tags[0].value": "v", "tags[1].key": "k2", "tags[1].value": "v2",
    }


def test_details_map_keeps_field_case_and_accepts_a_single_mapping():
    expected = {"details[0].UEFI": "SECURE", "details[0].rootDiskController": "scsi"}
    assert encode_params({"details": [{"UEFI": "SECURE", "rootDiskController": "scsi"}]}) == expected
    assert encode_params({"details": {"UEFI": "SECURE", "rootDiskController": "scsi"}}) == expected


def test_unsupported_types_name_the_parameter():
    with pytest.raises(TypeError, match="when"):
        encode_params({"when": object()})
    with pytest.raises(TypeError, match="ids"):
        encode_params({"ids": [["nested"]]})
