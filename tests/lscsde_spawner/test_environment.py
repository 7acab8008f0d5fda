"""The variables that describe a workspace to its server: names, values, hostile input."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from kubesim.runtimes.container_spec import expand
from lscsde_spawner.environment import (
    MAX_TEXT,
    check_prefix,
    env_key,
    for_pod,
    plain_text,
    workspace_environment,
)

DAY = date(2026, 5, 4)
NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def env(**kw: object) -> dict[str, str]:
    args: dict[str, object] = {
        "workspace": "cardiac-imaging",
        "display_name": "Cardiac imaging",
        "expires": DAY,
        "workspace_path": "/home/jovyan/cardiac-imaging",
        "datasources": [
            ("hospital-episodes", "/home/jovyan/data/hospital-episodes"),
            ("echocardiograms", "/home/jovyan/data/echocardiograms"),
        ],
    }
    args.update(kw)
    return workspace_environment(**args)  # type: ignore[arg-type]


def test_the_documented_variables() -> None:
    assert env() == {
        "LSCSDE_WORKSPACE": "cardiac-imaging",
        "LSCSDE_WORKSPACE_DISPLAY_NAME": "Cardiac imaging",
        "LSCSDE_WORKSPACE_EXPIRES": "2026-05-04",
        "LSCSDE_WORKSPACE_PATH": "/home/jovyan/cardiac-imaging",
        "LSCSDE_DATASOURCES": "echocardiograms,hospital-episodes",
        "LSCSDE_DATASOURCE_PATHS": json.dumps(
            {
                "echocardiograms": "/home/jovyan/data/echocardiograms",
                "hospital-episodes": "/home/jovyan/data/hospital-episodes",
            }
        ),
        "LSCSDE_DATASOURCE_ECHOCARDIOGRAMS_PATH": "/home/jovyan/data/echocardiograms",
        "LSCSDE_DATASOURCE_HOSPITAL_EPISODES_PATH": "/home/jovyan/data/hospital-episodes",
    }


def test_no_datasources_still_says_so() -> None:
    got = env(datasources=[])
    assert got["LSCSDE_DATASOURCES"] == ""
    assert json.loads(got["LSCSDE_DATASOURCE_PATHS"]) == {}
    assert not [k for k in got if k.startswith("LSCSDE_DATASOURCE_") and k.endswith("_PATH")]


def test_another_prefix_and_none() -> None:
    got = env(prefix="TRE_")
    assert set(got) == {k.replace("LSCSDE_", "TRE_", 1) for k in env()}
    assert env(prefix="") == {}


def test_a_workspace_that_expires_today() -> None:
    assert env(expires=date(2026, 1, 1))["LSCSDE_WORKSPACE_EXPIRES"] == "2026-01-01"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("hospital-episodes", "HOSPITAL_EPISODES"),
        ("gp.records.v2", "GP_RECORDS_V2"),
        ("a--b", "A__B"),
        ("ukbb2024", "UKBB2024"),
        ("straße", "STRA_E"),  # not a Kubernetes name; still only [A-Z0-9_]
        ("x=y;EVIL=1", "X_Y_EVIL_1"),
    ],
)
def test_a_name_becomes_part_of_a_variable_name(name: str, key: str) -> None:
    assert env_key(name) == key


def test_names_that_reduce_alike_get_no_per_name_variable() -> None:
    """Neither of two data sources may take the other's variable: both are only in the list and
    the JSON map, which name them exactly."""
    got = env(datasources=[("a-b", "/d/a-b"), ("a.b", "/d/a.b"), ("c", "/d/c")])
    assert "LSCSDE_DATASOURCE_A_B_PATH" not in got
    assert got["LSCSDE_DATASOURCE_C_PATH"] == "/d/c"
    assert got["LSCSDE_DATASOURCES"] == "a-b,a.b,c"
    assert json.loads(got["LSCSDE_DATASOURCE_PATHS"]) == {
        "a-b": "/d/a-b",
        "a.b": "/d/a.b",
        "c": "/d/c",
    }


def test_one_data_source_mounted_twice_keeps_its_first_path() -> None:
    got = env(datasources=[("c", "/d/one"), ("c", "/d/two")])
    assert got["LSCSDE_DATASOURCE_C_PATH"] == "/d/one" and got["LSCSDE_DATASOURCES"] == "c"


@pytest.mark.parametrize(
    "name",
    ["paths", "s", "", "_", "jupyterhub-api-token", "../../x", "x\nJUPYTERHUB_API_TOKEN=1"],
)
def test_no_data_source_name_reaches_another_variable(name: str) -> None:
    """Whatever a data source is called, every variable stays in its pattern: none is the
    hub's, none is another of ours."""
    got = env(datasources=[(name, "/d/x")])
    fixed = set(env(datasources=[]))
    extra = set(got) - fixed
    assert all(NAME.fullmatch(k) for k in got)
    assert not any(k.startswith(("JUPYTERHUB_", "JPY_")) for k in got)
    assert all(k.startswith("LSCSDE_DATASOURCE_") and k.endswith("_PATH") for k in extra)
    assert len(extra) <= 1
    # The fixed variables keep their meaning.
    assert got["LSCSDE_WORKSPACE"] == "cardiac-imaging"


@pytest.mark.parametrize(
    ("display_name", "shown"),
    [
        ("  Cardiac\nimaging\r\n", "Cardiac imaging"),
        ("Cardiac\x00imaging", "Cardiac imaging"),
        ("Cardiac\u2028\u2029imaging", "Cardiac imaging"),
        ("evil\u202eenolc", "evil enolc"),  # a right-to-left override shows nothing reversed
        ("zero\u200bwidth", "zero width"),
        ("", "cardiac-imaging"),  # none: the name
        ("\n\t ", "cardiac-imaging"),
        ("Ünïcödé 心臓 🫀", "Ünïcödé 心臓 🫀"),
    ],
)
def test_the_display_name_is_one_line_of_visible_text(display_name: str, shown: str) -> None:
    assert env(display_name=display_name)["LSCSDE_WORKSPACE_DISPLAY_NAME"] == shown


def test_a_long_display_name_is_cut() -> None:
    value = env(display_name="x" * 10_000)["LSCSDE_WORKSPACE_DISPLAY_NAME"]
    assert value == "x" * MAX_TEXT
    assert plain_text("ab " * 200, limit=4) == "ab a"


@pytest.mark.parametrize(
    "text",
    [
        "$(JUPYTERHUB_API_TOKEN)",
        "costs $$5 and $(HOME)",
        "$",
        "trailing $",
        "{username} {{x}}",
        "$$(JPY_API_TOKEN)",
    ],
)
def test_values_survive_the_kubelets_expansion(text: str) -> None:
    """Kubernetes expands $(VAR) in env values; the pod's values are escaped so the container
    sees the text as written, never another variable's value (here: kubesim's expansion, which
    follows the kubelet's)."""
    pod = for_pod(env(display_name=text))
    defined = {"JUPYTERHUB_API_TOKEN": "secret", "HOME": "/home/jovyan", "JPY_API_TOKEN": "s"}
    seen = expand(pod["LSCSDE_WORKSPACE_DISPLAY_NAME"], defined)
    assert seen == plain_text(text)
    assert "secret" not in seen


@pytest.mark.parametrize("prefix", ["LSCSDE_", "TRE_", "A_", "X1_Y_"])
def test_good_prefixes(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("lscsde_", "upper-case"),
        ("LSCSDE", "ending in '_'"),
        ("_X_", "starting with a letter"),
        ("JUPYTERHUB_", "own namespace"),
        ("JUPYTER_X_", "own namespace"),
        ("JPY_", "own namespace"),
        ("X Y_", "upper-case"),
        ("X_\n", "upper-case"),
    ],
)
def test_bad_prefixes(prefix: str, words: str) -> None:
    with pytest.raises(ValueError, match="environment_prefix") as err:
        check_prefix(prefix)
    assert words in str(err.value)
