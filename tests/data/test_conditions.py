"""Conditions: the field:value form, known values, refusals that list them, the plain-data round trip."""

from __future__ import annotations

import json

import pytest
import torch

from seqmodels.data.conditions import Conditions, UnknownConditionError


def meter_key() -> Conditions:
    return Conditions({"meter": ["6/8", "3/4"], "key": ["G", "D", "C:maj"]}, ["tempo"])


def test_the_command_line_form():
    assert Conditions.split_pairs("label:pos") == {"label": "pos"}
    assert Conditions.split_pairs("  meter:6/8   key:G ") == {"meter": "6/8", "key": "G"}
    assert Conditions.split_pairs("label:very good key:C:maj") == {"label": "very good", "key": "C:maj"}
    for bad, message in [
        ("pos", "not in the form field:value"),
        ("label=pos", "not in the form field:value"),
        ("label: key:G", "field 'label' has no value"),
        ("key:G key:D", "gives field 'key' twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            Conditions.split_pairs(bad)


def test_encode_gives_ids_in_field_order_and_floats():
    conditions = meter_key()
    assert conditions.sizes == [2, 3] and conditions.num_values == 1
    assert conditions.encode("key:C:maj meter:3/4 tempo:120") == ([1, 2], [120.0])
    assert conditions.encode({"meter": "6/8", "key": "D", "tempo": 96}) == ([0, 1], [96.0])
    ids, values = conditions.tensors("meter:3/4 key:G tempo:1.5")
    assert ids.tolist() == [[1, 0]] and ids.dtype == torch.long
    assert values.tolist() == [[1.5]] and values.dtype == torch.float32
    only_ids = Conditions({"label": ["neg", "pos"]}).tensors("label:pos")
    assert isinstance(only_ids, torch.Tensor) and only_ids.tolist() == [[1]]


def test_an_unseen_value_is_refused_with_the_known_ones():
    with pytest.raises(UnknownConditionError, match=r"key='E' was never seen in training.*\['G', 'D', 'C:maj'\]"):
        meter_key().encode("meter:6/8 key:E tempo:1")
    with pytest.raises(UnknownConditionError, match=r"field\(s\) \['mode'\].*fields are \['meter', 'key', 'tempo'\]"):
        meter_key().encode("meter:6/8 key:G tempo:1 mode:dorian")
    with pytest.raises(ValueError, match=r"lacks field\(s\) \['tempo'\]: give every field, e.g. condition="):
        meter_key().encode("meter:6/8 key:G")
    with pytest.raises(ValueError, match="'tempo' is real-valued, give a finite number"):
        meter_key().encode("meter:6/8 key:G tempo:fast")


def test_build_sorts_values_and_keeps_typical_defaults():
    rows = [("10", "b"), ("2", "a"), ("10", "a")]
    conditions = Conditions.build(["n", "letter"], rows, ["x"], [(1.0,), (2.0,), (6.0,)])
    assert conditions.fields == {"n": ("2", "10"), "letter": ("a", "b")}  # numbers by value, as class labels
    assert conditions.defaults == {"n": "10", "letter": "a", "x": 3.0}
    assert conditions.example() == "n:10 letter:a x:3"


def test_plain_data_round_trip():
    conditions = meter_key()
    data = json.loads(json.dumps(conditions.to_dict()))
    assert Conditions.from_dict(data) == conditions
    assert data["fields"][1] == {"name": "key", "values": ["G", "D", "C:maj"]}


def test_refused_definitions():
    with pytest.raises(ValueError, match="at least one field"):
        Conditions({})
    with pytest.raises(ValueError, match="lists \\['a'\\] more than once"):
        Conditions({"f": ["a", "a"]})
    with pytest.raises(ValueError, match="named twice"):
        Conditions({"f": ["a"]}, ["f"])
    with pytest.raises(ValueError, match="no whitespace and no ':'"):
        Conditions({"my field": ["a"]})
