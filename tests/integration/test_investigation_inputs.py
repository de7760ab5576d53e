"""What people type, and the accounts that are not ordinary, against the real demo tenant.

Three levels: `resolve_account` + `Collector` on the production `m365` stack; the investigate dialog through
the real handler (`bot.build_handler`), the real tenant and a real SQLite store; and the CLI as a subprocess.
Each bad input gets a clear answer and no crash; each unusual account (a guest, a disabled account, a shared
mailbox, a user without a mailbox) an investigation that completes with a card that validates. The demo seed's
stories come out as the seed tells them, with the findings that justify each verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import build_handler
from cards.findings import findings_card
from config import IDENTITY_ENV_NAMES
from investigation.collect import Investigation
from investigation.evidence import SourceName, UnavailableReason
from investigation.resolve import Outcome, resolve_account
from investigation.verdict import Verdict
from locales import t
from store import Store
from tests.activities import ALEX, ISAIAH
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.report_fakes import RecordingOutbox

REPO = Path(__file__).resolve().parents[2]
MEGAN_ID = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
MIRIAM_ID = "8fcda2f9-7b1e-4d6a-a9fa-3a4b5c6d7e09"
JORDAN_UPN = "jordan_partner.example#EXT#@example.onmicrosoft.com"


async def investigate(stack: DemoStack, text: str) -> Investigation:
    resolution = await resolve_account(stack.tenant, text)
    assert resolution.outcome == Outcome.found, resolution
    return await stack.collector().investigate(resolution.user)


def card_lines(investigation: Investigation) -> list[str]:
    card = findings_card(investigation, case_id="case-1", viewer_can_act=True, locale="en-US",
                         time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    return lines(card)


def codes(investigation: Investigation) -> set[str]:
    return {f.code for f in investigation.findings}


def user_lookups(stack: DemoStack) -> list[Any]:
    return [r for r in stack.requests(api="graph") if r.path == "/v1.0/users"]


# -- resolving what was typed ----------------------------------------------------------------------------------


async def test_unknown_account(stack: DemoStack) -> None:
    for text in ("nobody@example.com", "Nobody Atall", "zzzz"):
        resolution = await resolve_account(stack.tenant, text)
        assert resolution.outcome == Outcome.none, text
    assert all(r.status == 200 for r in user_lookups(stack))


@pytest.mark.parametrize("text", ["megan@@example.com", "megan@", "@example.com", "meganb@example",
                                  "megan bowen@example.com", "<script>@example.com"])
async def test_malformed_address_is_refused_without_asking_microsoft(stack: DemoStack, text: str) -> None:
    resolution = await resolve_account(stack.tenant, text)
    assert (resolution.outcome, resolution.problem) == (Outcome.invalid, "malformed_address")
    assert user_lookups(stack) == []


@pytest.mark.parametrize("text", [
    "' or 1 eq 1", "x'or'1'eq'1", "x' or startswith(displayName,'a')", "MeganB@example.com' or '1' eq '1",
    'a"b', 'x" OR "displayName:a', "\\", "*", "$filter=true", "%27 or 1 eq 1",
])
async def test_quotes_and_odata_syntax_are_only_text(stack: DemoStack, text: str) -> None:
    """Quoted and escaped, never interpreted: nothing matches (an injection would return the whole directory),
    and Graph never has to refuse a malformed query."""
    resolution = await resolve_account(stack.tenant, text)
    assert resolution.outcome in (Outcome.none, Outcome.invalid), resolution
    assert resolution.users == ()
    assert all(r.status == 200 for r in user_lookups(stack)), [(r.query, r.status) for r in user_lookups(stack)]


async def test_an_apostrophe_in_a_real_address_or_name(stack: DemoStack) -> None:
    for text in ("miriam.o'brien@example.com", "Miriam O'Brien", "miriam.obrien",
                 "<mailto:miriam.o'brien@example.com>"):
        resolution = await resolve_account(stack.tenant, text)
        assert resolution.outcome == Outcome.found, text
        assert resolution.user.id == MIRIAM_ID
    lookups = user_lookups(stack)
    assert lookups and all(r.status == 200 for r in lookups)
    assert any("'miriam.o''brien@example.com'" in r.query.get("$filter", "") for r in lookups)


async def test_several_matches_are_offered_not_guessed(stack: DemoStack) -> None:
    resolution = await resolve_account(stack.tenant, "Megan")
    assert resolution.outcome == Outcome.many
    assert {u.user_principal_name for u in resolution.users} == {"MeganB@example.com", "MeganL@example.com"}


# -- unusual accounts ------------------------------------------------------------------------------------------


async def test_guest(stack: DemoStack) -> None:
    for text in ("jordan", "jordan@partner.example", JORDAN_UPN):
        assert (await resolve_account(stack.tenant, text)).user.user_principal_name == JORDAN_UPN
    jordan = await investigate(stack, "Jordan Miller (Partner)")
    assert jordan.evidence.user.is_guest
    assert jordan.evidence.restricted is False
    # A guest has no mailbox here: nothing to check there, which is not "could not look".
    assert jordan.evidence.unavailable_reason(SourceName.inbox_rules).reason_code == UnavailableReason.no_mailbox
    assert jordan.assessment.verdict == Verdict.no_signs
    shown = card_lines(jordan)
    assert any(x.startswith(t("en", "source.inbox_rules")) and t("en", "unavailable.no_mailbox") in x
               for x in shown)


async def test_disabled_account(stack: DemoStack) -> None:
    lee = await investigate(stack, "Lee Gu")
    assert lee.evidence.user.account_enabled is False
    assert lee.evidence.unavailable == ()
    assert lee.assessment.verdict == Verdict.no_signs
    assert "block_sign_in" not in {s.code for s in lee.assessment.recommended_steps}
    assert t("en", "header.sign_in_blocked") in card_lines(lee)


async def test_shared_mailbox(stack: DemoStack) -> None:
    info = await investigate(stack, "info@example.com")
    assert info.evidence.mailbox is not None and info.evidence.mailbox.is_shared
    assert info.evidence.unavailable == ()
    assert info.assessment.verdict == Verdict.no_signs
    assert "shared_mailbox_sign_in" not in codes(info)  # nobody signs in to it in the seed
    card_lines(info)


async def test_user_without_a_mailbox(stack: DemoStack) -> None:
    johanna = await investigate(stack, "johanna")
    evidence = johanna.evidence
    assert evidence.mailbox is None and evidence.cas_mailbox is None
    assert {u.source: u.reason_code for u in evidence.unavailable} == {
        SourceName.inbox_rules: UnavailableReason.no_mailbox, SourceName.mail_folders: UnavailableReason.no_mailbox,
        SourceName.auto_reply: UnavailableReason.no_mailbox, SourceName.delegation: UnavailableReason.no_mailbox}
    assert johanna.assessment.verdict == Verdict.no_signs  # nothing to check is not "incomplete"
    assert johanna.assessment.key_sources_missing == ()
    shown = card_lines(johanna)
    assert f"{t('en', 'source.inbox_rules')}: {t('en', 'unavailable.no_mailbox')}" in shown


# -- the seed's stories ----------------------------------------------------------------------------------------


async def test_megan_is_compromised(stack: DemoStack) -> None:
    megan = await investigate(stack, "MeganB@example.com")
    assert megan.evidence.unavailable == ()
    assert megan.evidence.restricted is True
    assert megan.assessment.verdict == Verdict.compromised
    assert megan.assessment.urgent  # signed in from abroad within the last day
    assert {
        "rule_forwards_external", "rule_hides_mail", "sign_in_new_country", "legacy_protocol_sign_in",
        "user_risk_high", "risk_anonymous_ip", "mfa_registered_from_suspicious_ip", "consent_unverified_app",
        "outbound_spam_detected",
    } <= codes(megan)
    forwarding = next(f for f in megan.findings if f.code == "rule_forwards_external")
    assert "exfil@mail-relay.example.net" in forwarding.params["targets"]
    countries = {f.params["country"] for f in megan.findings if f.code == "sign_in_new_country"}
    assert {"NG", "RU"} <= countries
    # The attacker's authenticator, registered from the Lagos IP: one event (Entra logs it twice), one finding.
    mfa = [f for f in megan.findings if f.code.startswith("mfa_")]
    assert [f.code for f in mfa] == ["mfa_registered_from_suspicious_ip"]
    assert (mfa[0].params["method"], mfa[0].params["ip"]) == ("Authenticator App with Notification and Code",
                                                              "192.0.2.77")
    consent = next(f for f in megan.findings if f.code == "consent_unverified_app")
    assert consent.params["app"] == "Mail Sync Pro"
    assert megan.reason is not None and megan.reason.spam_last_24h == 242
    steps = [s.code for s in megan.assessment.recommended_steps]
    assert steps.index("force_password_change") < steps.index("unblock") < steps.index("disable_legacy_protocols")
    shown = " ".join(card_lines(megan))
    assert t("en", "verdict.compromised") in shown and "exfil@mail-relay.example.net" in shown


async def test_patti_is_compromised_by_forwarding_and_spam_from_an_address_she_never_used(stack: DemoStack) -> None:
    patti = await investigate(stack, "Patti Fernandez")
    assert patti.evidence.unavailable == ()
    # Forwarding to a private address alone would be a habit (suspicious); the message trace shows the spam left
    # from 203.0.113.199, an address none of her sign-ins came from: an intruder's sending tool corroborates it.
    assert patti.assessment.verdict == Verdict.compromised
    assert patti.assessment.deciding is not None
    assert set(patti.assessment.deciding.codes) == {"mailbox_forwards_external", "burst_ip_not_in_sign_ins"}
    assert {"mailbox_forwards_external", "legacy_protocol_sign_in", "outbound_spam_detected"} <= codes(patti)
    forwarding = next(f for f in patti.findings if f.code == "mailbox_forwards_external")
    assert forwarding.params["target"] == "patti.fernandez.home@gmail.com"
    assert not codes(patti) & {"sign_in_new_country", "rule_forwards_external", "user_risk_high"}
    steps = {s.code for s in patti.assessment.recommended_steps}
    assert {"remove_forwarding", "unblock", "enable_mfa", "disable_legacy_protocols"} <= steps
    card_lines(patti)


async def test_adele_shows_no_signs(stack: DemoStack) -> None:
    adele = await investigate(stack, "AdeleV@example.com")
    assert adele.evidence.unavailable == ()
    assert adele.evidence.restricted is True
    assert adele.assessment.verdict == Verdict.no_signs
    # The bulk mailing itself (low) and what it looked like in the message trace (info: to her usual customers,
    # from her own address).
    # The tenant-wide traps Megan's account set (a Bcc mail flow rule, an app with Mail.Read) show on her card as
    # context (low): they are no sign that Adele's account was used.
    assert codes(adele) == {"send_volume_spike", "burst_summary", "tenant_transport_rule_external",
                            "tenant_app_mail_access"}
    assert all(f.severity.value == "low" for f in adele.findings if f.code.startswith("tenant_"))
    assert adele.reason is not None and adele.reason.external_recipients == 2750
    assert [s.code for s in adele.assessment.recommended_steps] == ["unblock"]
    card_lines(adele)


async def test_lynne_is_not_restricted(stack: DemoStack) -> None:
    lynne = await investigate(stack, "LynneR@example.com")
    assert lynne.evidence.restricted is False and lynne.evidence.restriction is None
    assert lynne.assessment.verdict == Verdict.no_signs
    # Her consent is to a verified publisher's app; her old risk was dismissed.
    assert not codes(lynne) & {"consent_unverified_app", "user_risk_high", "user_risk_elevated"}
    assert "unblock" not in {s.code for s in lynne.assessment.recommended_steps}
    card_lines(lynne)


# -- through the dialog ----------------------------------------------------------------------------------------


@pytest.fixture
def chat(stack: DemoStack, sqlite_store: Store) -> DialogClient:
    """Alex Wilber (security admin in the demo seed) in a personal chat with the real bot on the demo tenant."""
    assert stack.settings.security_admin_group_id, "the demo tenant hands out the role groups"
    bot, _ = build_handler(stack.settings, tenant=stack.tenant, store=sqlite_store, outbox=RecordingOutbox())
    return DialogClient(bot, ALEX)


async def test_dialog_bad_inputs_get_clear_answers(chat: DialogClient) -> None:
    said = texts_of(await chat.say("investigate nobody@example.com"))
    assert any("couldn't find an account matching nobody@example.com" in x for x in said), said
    said = texts_of(await chat.say("megan@@example.com"))
    assert any("megan@@example.com is not a valid mail address" in x for x in said), said
    said = texts_of(await chat.say("' or 1 eq 1"))
    assert any("couldn't find" in x for x in said), said
    said = texts_of(await chat.say("investigate x\" OR \"displayName:a"))
    assert any("couldn't find" in x for x in said), said
    said = texts_of(await chat.say("cancel"))
    assert any("Cancelled" in x for x in said), said


async def test_dialog_a_name_with_an_apostrophe(chat: DialogClient) -> None:
    # The whole display name, and only she has it: no question, the investigation starts.
    said = texts_of(await chat.say("investigate Miriam O'Brien"))
    assert not any("Investigate" in x and "?" in x for x in said), said
    card = _final_card(chat)
    assert any("Miriam O'Brien" in x for x in lines(card))


# A partial name is confirmed first, with what is unusual about the account; an exact one (the whole display
# name, an address) starts at once and the card says what is unusual.
@pytest.mark.parametrize(("text", "name", "user_id", "note"), [
    ("investigate jordan", "Jordan Miller (Partner)", "d412ff4e-c06d-4cbf-9e3f-8f9a0b1c2d14", "investigate.note_guest"),
    ("check Lee Gu", "Lee Gu", "a1efcc1b-9d3a-4f8c-8b0c-5c6d7e8f9a11", "header.sign_in_blocked"),
    ("investigate info@example.com", "Info", "c301ee3d-bf5c-4bae-8d2e-7e8f9a0b1c13", "header.sign_in_blocked"),
    ("investigate Johanna Lorenz", "Johanna Lorenz", "b2f0dd2c-ae4b-4a9d-9c1d-6d7e8f9a0b12", None),
])
async def test_dialog_unusual_accounts(chat: DialogClient, stack: DemoStack, sqlite_store: Store, text: str,
                                       name: str, user_id: str, note: str | None) -> None:
    done = await chat.say(text)
    said = texts_of(done)
    question = next((x for x in said if name in x and "?" in x), None)
    if note and note.startswith("investigate."):
        assert question is not None, said
        assert t("en", note) in question
        done = await chat.say("yes")
    else:
        assert question is None, said
    assert cards_of(done), "the progress card comes first"
    card = _final_card(chat)
    shown = lines(card)
    if note and note.startswith("header."):
        assert t("en", note) in shown
    assert any(name in x for x in shown)
    assert t("en", "verdict.no_signs") in shown
    case = await sqlite_store.cases.get_open_case(stack.tenant.tenant_id, user_id)
    assert case is not None and case.verdict == "no_signs"
    assert [c.activity_id for c in await sqlite_store.cases.list_cards(case.id)] == [chat.last_updates[0].id]


async def test_dialog_it_staff_investigates_megan_end_to_end(stack: DemoStack, sqlite_store: Store) -> None:
    bot, _ = build_handler(stack.settings, tenant=stack.tenant, store=sqlite_store, outbox=RecordingOutbox())
    chat = DialogClient(bot, ISAIAH)
    await chat.say("investigate MeganB@example.com")
    shown = lines(_final_card(chat))
    assert t("en", "verdict.compromised") in shown
    assert any("exfil@mail-relay.example.net" in x for x in shown)
    case = await sqlite_store.cases.get_open_case(stack.tenant.tenant_id, MEGAN_ID)
    assert case is not None and case.verdict == "compromised"
    assert [c.activity_id for c in await sqlite_store.cases.list_cards(case.id)] == [chat.last_updates[0].id]


def _final_card(chat: DialogClient) -> dict[str, Any]:
    """The findings card that replaced the progress card (update_activity) in the last turn."""
    cards = cards_of(chat.last_updates)
    assert len(cards) == 1, chat.last_updates
    assert_valid_card(cards[0])
    return cards[0]


# -- the CLI ---------------------------------------------------------------------------------------------------


# Every credential variable empty, whatever the environment or a developer's `.env` says: demo mode.
DEMO_ENV = {name: "" for name in (
    *IDENTITY_ENV_NAMES, "M365_TENANT_ID", "M365_CLIENT_ID",
    "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "M365_CA_FILE", "IT_STAFF_GROUP_ID",
    "SECURITY_ADMIN_GROUP_ID", "DATABASE_URL", "DEMO_TENANT_SEED",
)} | {"DEMO_TENANT_PORT": "0", "LOG_LEVEL": "WARNING"}


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m investigation ...` in demo mode (it starts the embedded demo tenant), data in `data_dir`."""
    env = {**os.environ, **DEMO_ENV, "DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "investigation", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_cli_json(cli_dir: Path) -> None:
    result = run_cli(cli_dir, "MeganB@example.com", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["account"] == {"id": MEGAN_ID, "userPrincipalName": "MeganB@example.com", "displayName": "Megan Bowen"}
    restricted = data["restricted"]
    assert restricted["isRestricted"] is True and restricted["since"]
    assert restricted["spamLast24h"] == 242 and restricted["mailLast24h"] == 251
    assert {"reason", "limitType", "internalRecipients", "externalRecipients"} <= set(restricted)
    assert data["verdict"] == "compromised"
    assert {"rule_forwards_external", "sign_in_new_country", "consent_unverified_app"} <= {
        f["code"] for f in data["findings"]}
    for finding in data["findings"]:
        assert set(finding) == {"code", "severity", "summary", "evidence"}
        assert finding["severity"] in ("high", "medium", "low", "info") and finding["summary"]
    assert data["sources"]["sign_ins"] == "ok" and data["sources"]["restriction"] == "ok"
    assert all(v == "ok" or v.startswith("unavailable: ") for v in data["sources"].values())
    assert [s["code"] for s in data["steps"]][:2] == ["force_password_change", "revoke_sessions"]


def test_cli_json_reads_microsofts_recipient_limit_reason(cli_dir: Path) -> None:
    """Adele's seed entry is Microsoft's `EmailSendingLimitExceeded;…;ExceedingLimitType=External;…` form."""
    result = run_cli(cli_dir, "AdeleV@example.com", "--json")
    assert result.returncode == 0, result.stderr
    restricted = json.loads(result.stdout)["restricted"]
    assert restricted["reason"].startswith("EmailSendingLimitExceeded;")
    assert {k: restricted[k] for k in ("limitType", "exceedingLimitType", "internalRecipients", "externalRecipients",
                                       "lastMessageRecipients", "spamLast24h", "messageTraceId")} == {
        "limitType": "external_recipient_limit", "exceedingLimitType": "external", "internalRecipients": 12,
        "externalRecipients": 2750, "lastMessageRecipients": 250, "spamLast24h": None,
        "messageTraceId": "9a3e5c71-2f4b-4d8e-b6a0-08dcf1d2e3f4"}


def test_cli_text_and_exit_codes(cli_dir: Path) -> None:
    adele = run_cli(cli_dir, "Adele Vance")
    assert adele.returncode == 0, adele.stderr
    assert "Adele Vance <AdeleV@example.com>" in adele.stdout and "verdict: no_signs" in adele.stdout
    unknown = run_cli(cli_dir, "nobody@example.com", "--json")
    assert unknown.returncode == 2
    assert unknown.stdout == "" and "nobody@example.com" in unknown.stderr
    several = run_cli(cli_dir, "Megan")
    assert several.returncode == 2 and "MeganB@example.com" in several.stderr
    malformed = run_cli(cli_dir, "megan@@example.com")
    assert malformed.returncode == 2 and "malformed" in malformed.stderr
