"""The catalogs cover every code the investigation can produce, in English and Dutch, with placeholders the
code actually provides; and every key the findings and progress cards ask for exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from investigation.evidence import SourceName, UnavailableReason
from investigation.indicators import EVIDENCE_KEYS, FINDING_CODES, FINDING_PARAMS, PREVENTION_CODES, Severity
from investigation.reason import LimitType
from investigation.verdict import REASON_CODES, REASON_PARAMS, STEP_CODES, StepPhase, Verdict
from locales import CATALOGS as MERGED
from locales import en, nl
from remediation.actions import ACTIONS

# The merged catalogs: the cards also use keys of the per-feature modules (locales/*_remediation.py).
CATALOGS = {"en": MERGED["en"], "nl": MERGED["nl"]}
# The params each step carries (investigation/verdict.py `SECURE_STEPS`, `assess`; indicators `prevention_steps`).
STEP_PARAMS: dict[str, frozenset[str]] = {
    "force_password_change": frozenset({"on_premises"}),
    "remove_forwarding": frozenset({"target"}),
    "disable_rule": frozenset({"rule"}),
    "remove_delegation": frozenset({"delegate"}),
    "review_mfa_methods": frozenset({"methods"}),
    "block_sign_in": frozenset({"active"}),
    "remove_admin_roles": frozenset({"roles"}),
    "remove_admin_role": frozenset({"role", "time", "initiated_by", "template_id"}),
    "review_consents": frozenset({"apps"}),
    "remove_mfa_method": frozenset({"method", "method_type", "time", "from_ip"}),
    "revoke_consent": frozenset({"app", "scopes"}),
    "disable_legacy_protocols": frozenset({"protocols"}),
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def assert_keys(keys: list[str], allowed: dict[str, frozenset[str]] | None = None) -> None:
    """Each key exists in both catalogs, with the same placeholders, drawn from `allowed[key]` when given."""
    for lang, catalog in CATALOGS.items():
        missing = [k for k in keys if k not in catalog]
        assert missing == [], (lang, missing)
    for key in keys:
        assert placeholders(CATALOGS["en"][key]) == placeholders(CATALOGS["nl"][key]), key
        if allowed is not None:
            assert placeholders(CATALOGS["en"][key]) <= allowed.get(key, frozenset()), key


def test_every_finding_code_has_a_sentence_within_its_params() -> None:
    assert_keys([f"finding.{c}" for c in FINDING_CODES],
                {f"finding.{c}": frozenset(FINDING_PARAMS[c]) for c in FINDING_CODES})


def test_every_finding_code_has_a_short_label() -> None:
    assert_keys([f"label.{c}" for c in FINDING_CODES], {})


def test_every_evidence_key_has_a_label() -> None:
    assert_keys([f"evidence.{k}" for k in EVIDENCE_KEYS], {})


def test_every_reason_code_within_its_params() -> None:
    assert_keys([f"reason.{c}" for c in REASON_CODES],
                {f"reason.{c}": frozenset(REASON_PARAMS[c]) for c in REASON_CODES})


def test_every_step_and_prevention_code_within_its_params() -> None:
    codes = list(dict.fromkeys([*STEP_CODES, *PREVENTION_CODES]))
    assert_keys([f"step.{c}" for c in codes], {f"step.{c}": STEP_PARAMS.get(c, frozenset()) for c in codes})


def test_every_button_step_has_a_title() -> None:
    # A per-item action's button names its item (`cards.verbs.ITEMS`); the others take nothing.
    assert_keys([spec.button_key for spec in ACTIONS.values()],
                {spec.button_key: frozenset({spec.item.name_key} if spec.item is not None else ())
                 for spec in ACTIONS.values()})


@pytest.mark.parametrize(("prefix", "names"), [
    ("verdict", [v.value for v in Verdict]),
    ("severity", [s.value for s in Severity]),
    ("source", [s.value for s in SourceName]),
    ("unavailable", [r.value for r in UnavailableReason]),
    ("limit", [lt.value for lt in LimitType]),
    ("phase", [p.value for p in StepPhase]),
])
def test_every_enum_value_has_words(prefix: str, names: list[str]) -> None:
    assert_keys([f"{prefix}.{n}" for n in names], {})


def test_dutch_is_translated() -> None:
    same = [k for k in en.MESSAGES
            if k.split(".")[0] in ("finding", "reason", "step", "verdict", "label", "source", "unavailable", "limit")
            and en.MESSAGES[k] == nl.MESSAGES[k]]
    assert same == []
    assert nl.MESSAGES["verdict.compromised"] == "Gecompromitteerd"


# Literal keys passed to the catalog helpers in the card modules.
_USED_KEY = re.compile(r'(?:\bt|template_runs|template_line)\(\s*locale,\s*"([^"{]+)"')


@pytest.mark.parametrize("module", ["cards/findings.py", "cards/progress.py"])
def test_every_literal_key_the_cards_use_exists(module: str) -> None:
    source = (Path(__file__).resolve().parents[2] / module).read_text("utf-8")
    keys = sorted(set(_USED_KEY.findall(source)))
    assert keys, "the pattern found no keys: it no longer matches the code"
    assert_keys(keys)


def test_keys_the_cards_build_from_parts_exist() -> None:
    assert_keys([
        "step.note.on_premises_force_password_change", "step.note.on_premises_block_sign_in",
        "step.note.block_true", "step.note.block_unknown", "gate.secure_first", "gate.generic", "note.generic",
        "note.unblocked", "note.unblocked_override", "note.rule_disabled", "help.link.guidance",
    ], {"note.generic": frozenset({"actor", "time"}), "note.unblocked": frozenset({"actor", "time"}),
        "note.unblocked_override": frozenset({"actor", "time"}),
        "note.rule_disabled": frozenset({"actor", "time", "rule"})})
