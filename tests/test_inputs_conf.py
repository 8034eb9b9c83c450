"""Every input's arguments are declared once, in Python; default/inputs.conf, README/inputs.conf.spec and the
bin/ entry points must agree with those declarations (and are checked here instead of copied by hand)."""

from __future__ import annotations

import configparser
import importlib
import re
import sys
from pathlib import Path
from typing import Any, List

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "lib"))

from audit_trail.config import SHARED_SETTINGS  # noqa: E402


def specs() -> List[Any]:
    found = []
    for path in sorted((REPO / "lib" / "audit_trail" / "sources").glob("*.py")):
        module = importlib.import_module(f"audit_trail.sources.{path.stem}")
        if hasattr(module, "spec"):
            found.append(module.spec())
    return found


SPECS = {spec.scheme: spec for spec in specs()}


def conf() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((REPO / "default" / "inputs.conf").read_text())
    return parser


def test_every_source_module_is_an_input_with_an_entry_point() -> None:
    assert {"ringcentral_audit", "liveperson_audit"} <= set(SPECS)
    for scheme in SPECS:
        entry = REPO / "bin" / f"{scheme}.py"
        assert entry.exists(), f"bin/{scheme}.py is missing"
        assert f"audit_trail.sources.{scheme.rsplit('_audit', 1)[0]} import spec" in entry.read_text()


@pytest.mark.parametrize("scheme", sorted(SPECS))
def test_default_stanza_carries_each_declared_default(scheme: str) -> None:
    spec = SPECS[scheme]
    stanza = dict(conf()[scheme])
    assert stanza.pop("python.required") == "3.9, 3.13" and stanza.pop("python.version") == "python3"
    assert stanza.pop("start_by_shell") == "false" and int(stanza.pop("interval")) > 0
    declared = {s.name: s.default for s in spec.all_arguments() if s.default}
    assert stanza == declared, "default/inputs.conf and the Python declarations disagree"


@pytest.mark.parametrize("scheme", sorted(SPECS))
def test_spec_file_documents_every_argument(scheme: str) -> None:
    text = (REPO / "README" / "inputs.conf.spec").read_text()
    match = re.search(rf"^\[{scheme}://<name>\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert match, f"README/inputs.conf.spec has no [{scheme}://<name>] section"
    documented = set(re.findall(r"^([a-z_]+) = <", match.group(1), re.M))
    declared = {s.name for s in SPECS[scheme].all_arguments()}
    assert documented == declared


def test_shared_settings_are_not_redeclared_by_a_source() -> None:
    shared = {s.name for s in SHARED_SETTINGS}
    for spec in SPECS.values():
        assert not shared & {a.name for a in spec.arguments}, spec.scheme
