"""kube/safejson.py: one object, whatever its shape, never breaks the others."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import pytest
from pydantic import field_validator

from lscsde_spawner.kube.safejson import (
    MAX_DEPTH,
    MAX_OBJECT_BYTES,
    loads_event,
    loads_list,
    loads_object,
)
from lscsde_spawner.models import AnalyticsWorkspaceBinding, ParseError, Unreadable, parse_one
from lscsde_spawner.models.base import Resource


def item(name: str, extra: str = "1", username: str = "alice") -> str:
    """A binding's JSON, with `extra` (JSON text) as the value of spec.extra."""
    return (
        f'{{"apiVersion":"xlscsde.nhs.uk/v1","kind":"AnalyticsWorkspaceBinding",'
        f'"metadata":{{"name":"{name}","namespace":"ns","resourceVersion":"7"}},'
        f'"spec":{{"workspace":"ws1","username":"{username}","expires":"2030-06-30",'
        f'"extra":{extra}}}}}'
    )


def nested(levels: int, inner: str = "1") -> str:
    """A JSON object nesting `levels` levels (built as text: json.dumps would recurse)."""
    return '{"a":' * levels + inner + "}" * levels


def document(*items: str) -> str:
    return (
        '{"apiVersion":"xlscsde.nhs.uk/v1","kind":"AnalyticsWorkspaceBindingList",'
        f'"metadata":{{"resourceVersion":"42"}},"items":[{",".join(items)}]}}'
    )


def names(items: list[Any]) -> list[tuple[str, str | None]]:
    """(name, reason) per item: reason None for an object handed over in full."""
    return [(x["metadata"]["name"], x.reason if isinstance(x, Unreadable) else None) for x in items]


# -- depth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1_500, 20_000])
@pytest.mark.parametrize("raw", [True, False], ids=["bytes", "str"])
def test_a_deep_item_is_reported_and_the_others_parse(levels: int, raw: bool) -> None:
    assert levels > sys.getrecursionlimit()  # json.loads of the whole List fails
    text = document(item("a"), item("deep", nested(levels), "bob"), item("c"))
    doc = loads_list(text.encode() if raw else text)
    assert names(doc["items"]) == [("a", None), ("deep", "nests deeper than 100 levels"),
                                   ("c", None)]  # fmt: skip
    assert doc["metadata"] == {"resourceVersion": "42"} and doc["kind"].endswith("List")
    assert doc["items"][0]["spec"]["extra"] == 1
    bad = doc["items"][1]
    # What names it and says whose it is, nothing deeper.
    assert dict(bad) == {
        "apiVersion": "xlscsde.nhs.uk/v1",
        "kind": "AnalyticsWorkspaceBinding",
        "metadata": {"name": "deep", "namespace": "ns", "resourceVersion": "7"},
        "spec": {"username": "bob", "workspace": "ws1"},
    }
    error = parse_one(AnalyticsWorkspaceBinding, bad)
    assert isinstance(error, ParseError)
    assert (error.name, error.namespace, error.username, error.workspace) == (
        "deep", "ns", "bob", "ws1")  # fmt: skip
    assert "nests deeper than 100 levels" in str(error)


def test_the_depth_limit_is_exact() -> None:
    # The item is level 1 and spec level 2, so spec.extra may nest MAX_DEPTH - 2 levels.
    fits, too_deep = nested(MAX_DEPTH - 2), nested(MAX_DEPTH - 1)
    doc = loads_list(document(item("fits", fits), item("deep", too_deep)))
    assert names(doc["items"]) == [("fits", None), ("deep", "nests deeper than 100 levels")]
    assert isinstance(loads_object(item("deep", too_deep)), Unreadable)
    assert not isinstance(loads_object(item("fits", fits)), Unreadable)
    arrays = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert isinstance(loads_object(item("deep", arrays)), Unreadable)


def test_deep_nesting_inside_a_string_does_not_count() -> None:
    text = json.dumps("{[" * 5_000 + "]}" * 5_000)
    doc = loads_list(document(item("a", text), item("b")))
    assert names(doc["items"]) == [("a", None), ("b", None)]
    assert doc["items"][0]["spec"]["extra"].startswith("{[{[")


def test_escaped_quotes_and_backslashes_do_not_confuse_the_splitter() -> None:
    # Strings that end in backslashes, hold quotes and brackets: the slow path (one item too
    # deep) must frame every item exactly.
    tricky = json.dumps({'q"]}{[': "x\\", "b": '\\"}]', "c": "\\\\", "d": '"' * 3})
    doc = loads_list(document(item("a", tricky), item("deep", nested(5_000)), item("c", tricky)))
    assert names(doc["items"]) == [("a", None), ("deep", "nests deeper than 100 levels"),
                                   ("c", None)]  # fmt: skip
    assert doc["items"][0]["spec"]["extra"] == json.loads(tricky)
    assert doc["items"][2]["spec"]["extra"] == json.loads(tricky)
    # A name full of JSON punctuation is still read from a deep item.
    odd = loads_object(item('x\\"]}{[', nested(5_000)))
    assert isinstance(odd, Unreadable) and odd["metadata"]["name"] == 'x"]}{['


def test_a_deep_watch_event_names_its_object() -> None:
    event = loads_event(f'{{"type":"MODIFIED","object":{item("deep", nested(3_000))}}}'.encode())
    assert event["type"] == "MODIFIED"
    assert isinstance(event["object"], Unreadable)
    assert event["object"]["metadata"] == {"name": "deep", "namespace": "ns",
                                           "resourceVersion": "7"}  # fmt: skip
    fine = loads_event(f'{{"type":"ADDED","object":{item("ok")}}}')
    assert fine["object"]["spec"]["username"] == "alice" and type(fine["object"]) is dict


# -- lone surrogates ------------------------------------------------------------------------------


@pytest.mark.parametrize("slow", [False, True], ids=["fast", "slow"])
def test_lone_surrogates_become_replacement_characters(slow: bool) -> None:
    # High and low alone, a high before another high, reversed: all lone. A valid escaped pair
    # and raw UTF-8 emoji stay. In keys too.
    value = r'"\ud800|\udfff|\ud83d\ud83d\ude00|\ude00\ud83d|\ud83d\ude00|' + '\U0001f600"'
    extra = f'{{"s":{value},"\\udc00k":[{value}]}}'
    items = [item("a", extra)] + ([item("deep", nested(2_000))] if slow else [])
    doc = loads_list(document(*items).encode())
    got = doc["items"][0]["spec"]["extra"]
    want = "\ufffd|\ufffd|\ufffd\U0001f600|\ufffd\ufffd|\U0001f600|\U0001f600"
    assert got == {"s": want, "\ufffdk": [want]}
    json.dumps(doc["items"][0], ensure_ascii=False).encode()  # no page can fail to encode it


def test_lone_surrogates_in_one_object_and_its_name() -> None:
    obj = loads_object(b'{"metadata":{"name":"n\\udbff"},"spec":{"displayName":"\\ud800"}}')
    assert obj == {"metadata": {"name": "n\ufffd"}, "spec": {"displayName": "\ufffd"}}
    deep = loads_object(item("n\\udbff", nested(2_000)))
    assert isinstance(deep, Unreadable) and deep["metadata"]["name"] == "n\ufffd"
    # A str (not bytes) may bring raw surrogates; invalid UTF-8 in bytes is replaced, as in Go.
    assert loads_object('{"s":"\ud800"}') == {"s": "\ufffd"}
    assert loads_object(b'{"s":"\xed\xa0\x80 \xff"}') == {"s": "\ufffd\ufffd\ufffd \ufffd"}


# -- size -----------------------------------------------------------------------------------------


def test_an_object_over_3_mib_is_refused() -> None:
    big = item("big", json.dumps("x" * MAX_OBJECT_BYTES))
    doc = loads_list(document(item("a"), big, item("c")))
    assert names(doc["items"]) == [("a", None), ("big", "is larger than 3 MiB"), ("c", None)]
    assert dict(doc["items"][1])["spec"] == {"username": "alice", "workspace": "ws1"}
    assert isinstance(loads_object(big.encode()), Unreadable)
    line = f'{{"type":"ADDED","object":{big}}}'.encode()
    assert loads_event(line)["object"].reason == "is larger than 3 MiB"


def test_many_small_objects_may_add_up_to_more_than_3_mib() -> None:
    filler = json.dumps("y" * 2_000)
    items = [item(f"b{i}", filler) for i in range(2_000)]  # about 4 MiB in all
    items.append(item("big", json.dumps({"k": ["z" * 1_000] * 3_500})))  # 3.4 MiB in one
    doc = loads_list(document(*items))
    assert len(doc["items"]) == 2_001
    assert [n for n, reason in names(doc["items"]) if reason] == ["big"]


def test_what_counts_is_the_json_size_not_the_python_size() -> None:
    # Repeated keys are shared by json.loads; each still costs its bytes in JSON.
    key = "k" * 100_000
    extra = "[" + ",".join(f'{{"{key}":{i}}}' for i in range(40)) + "]"  # 4 MB of keys
    filler = [item(f"f{i}") for i in range(10)]
    doc = loads_list(document(*filler, item("keys", extra)))
    assert names(doc["items"])[-1] == ("keys", "is larger than 3 MiB")


# -- not JSON -------------------------------------------------------------------------------------


def test_invalid_json_in_one_item_of_a_list() -> None:
    # The brackets balance, so the item is framed and the others are read.
    doc = loads_list(document(item("a"), '{"metadata":{"name":"x"},"spec":{"v":tru}}', item("c")))
    assert [r for _, r in names(doc["items"])[::2]] == [None, None]
    bad = doc["items"][1]
    assert isinstance(bad, Unreadable) and bad.reason.startswith("is not valid JSON")
    # An integer json.loads refuses (more than 4,300 digits) is that item's problem too.
    doc = loads_list(document(item("a"), item("n", "9" * 5_000), item("c")))
    assert [r is None for _, r in names([doc["items"][0], doc["items"][2]])] == [True, True]
    assert isinstance(doc["items"][1], Unreadable)


def test_items_that_are_not_objects() -> None:
    doc = loads_list(document(item("a"), "7", '"x"', "null", "[]"))
    assert type(doc["items"][0]) is dict
    assert [x.reason for x in doc["items"][1:]] == ["is not a JSON object"] * 4


@pytest.mark.parametrize(
    "text", ["", "not json", "[]", '{"items":7}', '{"items":[1,', document(item("a")) + "x"]
)
def test_a_list_that_cannot_be_read_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads_list(text)


@pytest.mark.parametrize(
    "text", ["", "[]", '{"type":"ADDED","object":{"a":1}', '{"type":"ADDED" "object":{}}', "{}x"]
)
def test_an_event_that_cannot_be_read_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads_event(text)


@pytest.mark.parametrize("text", ["", "{", "nul", "[1]", '"s"', '{"a":1} {"b":2}'])
def test_one_object_that_cannot_be_read_is_unreadable(text: str) -> None:
    obj = loads_object(text)
    assert isinstance(obj, Unreadable) and obj == {}
    assert obj.reason.startswith(("is not valid JSON", "is not a JSON object"))


def test_never_a_recursion_error() -> None:
    hostile = [
        "[" * 100_000 + "]" * 100_000,
        "[" * 100_000,  # unterminated
        '{"items":[' + "{" * 50_000 + "]}",
        '{"items":[' + nested(30_000) + "," + nested(30_000) + "]}",
        '{"metadata":' + nested(5_000) + ',"items":[]}',
        '{"type":"ADDED","object":' + "[" * 50_000 + "]" * 50_000 + "}",
    ]
    for text in hostile:
        for fn in (loads_list, loads_event, loads_object):
            # The document as a whole may be unreadable (ValueError); recursion never escapes.
            with contextlib.suppress(ValueError):
                fn(text)


# -- parse_one ------------------------------------------------------------------------------------


class Fragile(Resource):
    """A model whose validator fails with something other than a ValidationError."""

    KIND = "Fragile"
    spec: dict[str, Any] = {}

    @field_validator("spec")
    @classmethod
    def _recurse(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("boom"):
            raise RecursionError("maximum recursion depth exceeded")
        return value


def test_parse_one_turns_any_failure_into_that_objects_parse_error() -> None:
    error = parse_one(Fragile, {"metadata": {"name": "f", "namespace": "ns"}, "spec": {"boom": 1}})
    assert isinstance(error, ParseError)
    assert (error.kind, error.namespace, error.name) == ("Fragile", "ns", "f")
    assert "RecursionError" in error.reason
    assert isinstance(parse_one(Fragile, {"metadata": {"name": "ok"}, "spec": {}}), Fragile)
    # An Unreadable never becomes a model, even when what it holds would validate.
    stub = Unreadable({"metadata": {"name": "u"}, "spec": {}}, "nests deeper than 100 levels")
    assert parse_one(Fragile, stub) == ParseError("Fragile", None, "u", stub.reason)
