"""The tenant pre-flight's pure parts: the feature table, evaluation, token decoding, the card and the intent."""

from __future__ import annotations

import base64
import json

import pytest

from cards.diagnose import diagnose_card
from core.preflight import (
    FEATURES,
    LICENCE_SERVICE_PLANS,
    ROLE_TEMPLATE_IDS,
    ExchangeProbe,
    Facts,
    Licence,
    Problem,
    ProblemKind,
    enabled_service_plans,
    evaluate,
    render_text,
    token_claims,
)
from dialogs.intents import Intent, matching_intents, recognize
from tests.cardschema import assert_valid_card

ALL_PERMISSIONS = frozenset(p for f in FEATURES for p in f.permissions if p != "Exchange.ManageAsApp")
ALL_PLANS = frozenset().union(*LICENCE_SERVICE_PLANS.values())
ALL_ROLES = frozenset(ROLE_TEMPLATE_IDS.values())


def facts(**changes: object) -> Facts:
    base: dict[str, object] = dict(
        graph_roles=ALL_PERMISSIONS, exchange_roles=frozenset({"Exchange.ManageAsApp"}), role_template_ids=ALL_ROLES,
        service_plans=ALL_PLANS, exchange_probes={p: None for p in ExchangeProbe}, message_trace=None)
    base.update(changes)
    return Facts(**base)  # type: ignore[arg-type]


def test_every_feature_has_its_deploy_row_and_a_permission() -> None:
    with open("docs/DEPLOY.md", encoding="utf-8") as doc:
        text = doc.read()
    for feature in FEATURES:
        assert feature.permissions, feature.key
        assert f"| {feature.deploy_row} |" in text or f"| **{feature.deploy_row}** |" in text, feature.deploy_row
        assert any(f"`{p}`" in text for p in feature.permissions), feature.key


def test_everything_granted_is_all_green() -> None:
    report = evaluate(facts())
    assert report.ok and report.missing() == {}


def test_a_higher_permission_counts_for_a_lower_one() -> None:
    roles = (ALL_PERMISSIONS - {"User.Read.All", "Directory.Read.All"}) | {"Directory.ReadWrite.All"}
    assert evaluate(facts(graph_roles=roles)).ok


def test_without_p1_sign_ins_and_registration_are_off_but_p2_still_counts_as_p1() -> None:
    report = evaluate(facts(service_plans=ALL_PLANS - {"AAD_PREMIUM", "AAD_PREMIUM_P2"}))
    assert report.missing() == {Licence.ENTRA_ID_P1.value: ["sign_ins", "mfa_registration"],
                                Licence.ENTRA_ID_P2.value: ["risky_users", "risk_detections"]}
    assert evaluate(facts(service_plans=ALL_PLANS - {"AAD_PREMIUM"})).ok


def test_unknown_licences_do_not_fail_features_but_show_as_unknown() -> None:
    report = evaluate(facts(service_plans=None))
    assert report.ok
    assert set(report.licences().values()) == {None}
    assert "Microsoft Entra ID P2: unknown" in render_text(report)


def test_no_exchange_token_turns_off_every_exchange_feature() -> None:
    report = evaluate(facts(exchange_roles=None, unreadable={"exchange_token": "AADSTS7000215"}))
    off = {s.feature.key for s in report.features if not s.available}
    assert off == {f.key for f in FEATURES if "Exchange.ManageAsApp" in f.permissions}
    assert "could not read exchange_token: AADSTS7000215" in render_text(report)


def test_a_write_role_missing_from_wids_is_named() -> None:
    report = evaluate(facts(role_template_ids=ALL_ROLES - {ROLE_TEMPLATE_IDS["User Administrator"],
                                                           ROLE_TEMPLATE_IDS["Privileged Authentication Administrator"],
                                                           ROLE_TEMPLATE_IDS["Global Administrator"]}))
    assert report.missing() == {"User Administrator": ["force_password_change"]}


def test_an_exchange_probe_refused_names_the_cmdlet() -> None:
    probes = {p: None for p in ExchangeProbe} | {
        ExchangeProbe.INBOX_RULES: Problem(ProblemKind.EXCHANGE_ROLE, "Get-InboxRule")}
    report = evaluate(facts(exchange_probes=probes))
    assert report.missing() == {"Get-InboxRule": ["hidden_inbox_rules", "mailbox_delegates"]}


def test_token_claims_reads_the_payload_only() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"roles": ["A.Read.All"], "wids": ["x"]}).encode()).rstrip(b"=")
    assert token_claims(f"eyJhbGciOiJub25lIn0.{payload.decode()}.sig") == {"roles": ["A.Read.All"], "wids": ["x"]}
    with pytest.raises(ValueError):
        token_claims("not-a-jwt")


def test_service_plans_of_suspended_or_disabled_subscriptions_do_not_count() -> None:
    skus = [
        {"capabilityStatus": "Enabled", "servicePlans": [
            {"servicePlanName": "AAD_PREMIUM", "provisioningStatus": "Success"},
            {"servicePlanName": "AAD_PREMIUM_P2", "provisioningStatus": "Disabled"}]},
        {"capabilityStatus": "Suspended", "servicePlans": [
            {"servicePlanName": "THREAT_INTELLIGENCE", "provisioningStatus": "Success"}]},
    ]
    assert enabled_service_plans(skus) == {"AAD_PREMIUM"}


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_the_card_is_valid_in_both_languages(locale: str) -> None:
    # Graph's message trace is not provisioned and Exchange's refuses too: no way to read the burst.
    probes = {p: None for p in ExchangeProbe} | {
        ExchangeProbe.MAILBOX: Problem(ProblemKind.EXCHANGE_ROLE, "Get-Mailbox"),
        ExchangeProbe.MESSAGE_TRACE: Problem(ProblemKind.EXCHANGE_ROLE, "Get-MessageTraceV2")}
    report = evaluate(facts(service_plans=ALL_PLANS - {"AAD_PREMIUM_P2"}, exchange_probes=probes,
                            message_trace=Problem(ProblemKind.NOT_PROVISIONED, "Message Trace service principal")))
    card = diagnose_card(report, locale)
    assert_valid_card(card)
    lines = [e for e in card["body"] if e["type"] == "RichTextBlock"]
    facts_shown = next(e for e in card["body"] if e["type"] == "FactSet")["facts"]
    unavailable = [s for s in report.features if not s.available]
    assert {s.feature.key for s in unavailable} >= {"risky_users", "risk_detections", "message_trace"}
    assert len(lines) == len(unavailable) and len(lines) + len(facts_shown) == len(FEATURES)
    # Unavailable first, right after the summary and the licences.
    assert card["body"][3]["type"] == "RichTextBlock"
    first = "".join(run["text"] for run in card["body"][3]["inlines"])
    assert ("not available" if locale == "en-US" else "niet beschikbaar") in first
    ok = diagnose_card(evaluate(facts()), locale)
    assert_valid_card(ok)
    assert str(len(FEATURES)) in ok["body"][1]["text"]


def test_the_card_keeps_a_name_taken_from_an_error_out_of_markdown() -> None:
    probes = {p: Problem(ProblemKind.UNKNOWN, "[x](https://evil.example)") for p in ExchangeProbe}
    card = diagnose_card(evaluate(facts(exchange_probes=probes)), "en")
    runs = [r["text"] for e in card["body"] if e["type"] == "RichTextBlock" for r in e["inlines"]]
    assert "[x](https://evil.example)" in runs  # shown, as a plain TextRun
    markdown = [e["text"] for e in card["body"] if e["type"] == "TextBlock"] + [
        f["title"] + f["value"] for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]]
    assert not any("evil.example" in text for text in markdown)


@pytest.mark.parametrize("text", ["diagnose", "Diagnose tenant", "diagnose the tenant", "check the tenant",
                                  "controleer tenant", "controleer de tenant", "tenant controleren", "diagnose."])
def test_diagnose_is_recognised_and_nothing_else(text: str) -> None:
    assert recognize(text).intent == Intent.DIAGNOSE
    assert matching_intents(text) == [Intent.DIAGNOSE]


@pytest.mark.parametrize("text", ["check megan", "controleer tenantadmin@example.com", "check tenant admin"])
def test_checking_an_account_stays_an_investigation(text: str) -> None:
    assert recognize(text).intent == Intent.INVESTIGATE


def test_message_trace_refused_by_graph_is_available_through_exchange() -> None:
    report = evaluate(facts(message_trace=Problem(ProblemKind.NOT_PROVISIONED, "Message Trace service principal")))
    status = next(s for s in report.features if s.feature.key == "message_trace")
    assert status.available and status.via == "Get-MessageTraceV2" and report.ok
    assert status.fallback is not None and status.fallback.kind == ProblemKind.NOT_PROVISIONED
    # Without Exchange's permission there is no second way.
    report = evaluate(facts(exchange_roles=frozenset(),
                            message_trace=Problem(ProblemKind.NOT_PROVISIONED, "Message Trace service principal")))
    assert not next(s for s in report.features if s.feature.key == "message_trace").available
