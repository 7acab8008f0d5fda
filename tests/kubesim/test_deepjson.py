"""kubesim.registry.deepjson: the stdlib's answers, at any depth kube-apiserver accepts."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from kubesim.registry import deepjson

SAMPLES = [
    '{"a": [1, -2.5e3, 0.0, true, false, null, "s\\n\\"\\\\\\u00e9\\ud83d\\ude00"], "b": {}}',
    '[[], {}, [[]], {"": {"x": []}}, "\u00e9\U0001f600", 12345678901234567890]',
    ' { "k" : 1 , "k" : 2 } ',  # the last duplicate wins, as in json.loads
    '"just a string"',
    "-0",
    "1E+2",
]


def nested(levels: int) -> str:
    return '{"a":' * (levels - 1) + "[]" + "}" * (levels - 1)


@pytest.mark.parametrize("text", SAMPLES)
def test_the_fallback_decodes_what_json_loads_decodes(text: str) -> None:
    assert deepjson._loads_iteratively(text) == json.loads(text)


def test_the_fallback_decodes_nan_and_infinity_as_json_loads_does() -> None:
    got = deepjson._loads_iteratively("[NaN, Infinity, -Infinity]")
    assert math.isnan(got[0]) and got[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize(
    "text", ["", "{", '{"a"}', '{"a":1,}', "[1 2]", "[1]x", '"\x01"', "nul", '{"a":1}}', "{1:2}"]
)
def test_the_fallback_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        deepjson._loads_iteratively(text)


def test_loads_accepts_10000_levels_and_no_more() -> None:
    value = deepjson.loads(nested(10_000))
    depth = 1
    while value != []:
        value, depth = value["a"], depth + 1
    assert depth == 10_000
    with pytest.raises(json.JSONDecodeError, match="exceeded max depth of 10000"):
        deepjson.loads(nested(10_001))
    with pytest.raises(json.JSONDecodeError):
        deepjson.loads("[" * 10_001 + "]" * 10_001)


def test_dumps_copies_and_compares_at_any_depth() -> None:
    text = nested(10_000)
    value = deepjson.loads(text)
    assert deepjson.dumps(value) == text
    copied = deepjson.deepcopy(value)
    assert deepjson.equal(copied, value)
    inner = copied
    for _ in range(5_000):
        inner = inner["a"]
    inner["b"] = 1
    assert not deepjson.equal(copied, value)
    assert deepjson.dumps(value) == text  # the original is untouched


@pytest.mark.parametrize("text", SAMPLES)
def test_the_fallbacks_match_the_stdlib(text: str) -> None:
    value: Any = json.loads(text)
    assert deepjson._dumps_iteratively(value) == json.dumps(value, separators=(",", ":"))
    assert deepjson._copy_iteratively(value) == value
    assert deepjson._equal_iteratively(value, json.loads(text))
    keys = {1: 2, 2.5: None, False: [None]}  # json.dumps makes strings of these keys
    assert deepjson._dumps_iteratively(keys) == json.dumps(keys, separators=(",", ":"))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [({"a": 1}, {"a": 1.0}, True), ({"a": 1}, {"b": 1}, False), ([1, [2]], [1, [3]], False),
     ([1], [1, 2], False), ({"a": []}, {"a": {}}, False), ({"a": "1"}, {"a": 1}, False)],
)  # fmt: skip
def test_the_iterative_equality_is_pythons(a: Any, b: Any, same: bool) -> None:
    assert deepjson._equal_iteratively(a, b) is same is (a == b)


def test_lone_surrogates_become_replacement_characters() -> None:
    text = r'{"\udc00k": ["\ud800", "\ud83d\ude00", "\ude00\ud83d", "ok"], "s": "\udfff!"}'
    assert deepjson.loads(text) == {
        "\ufffdk": ["\ufffd", "\U0001f600", "\ufffd\ufffd", "ok"],
        "s": "\ufffd!",
    }
    deep = deepjson.loads('{"a":' * 2_000 + '"\\ud800"' + "}" * 2_000)
    for _ in range(2_000):
        deep = deep["a"]
    assert deep == "\ufffd"
