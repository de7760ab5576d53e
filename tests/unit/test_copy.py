"""The copy, in both catalogs: every key and plural form in English and Dutch with the same placeholders, and no
internal word on any card drawn for the demo seed (audit codes, "notes for context", snake_case codes, None/null,
raw ISO timestamps, unfilled placeholders or catalog keys)."""

from __future__ import annotations

import json
import re
import string
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cards.findings import findings_card
from cards.help import help_card, welcome_card
from domain.people import Role
from investigation.collect import Investigation
from investigation.resolve import Outcome, resolve_account
from locales import CATALOGS, COUNT_PARAMS, ONE, t
from tests.cardschema import lines
from tests.demo_stack import SEED, DemoStack, demo_stack

LANGUAGES = ("en", "nl")
LOCALES = ("en-US", "nl-NL")

# Words a person should never read: our codes, Microsoft's enum values as they arrive, Python/JSON nothing-values.
DENIED: dict[str, re.Pattern[str]] = {
    "audit or consent type": re.compile(r"\bPrincipal\b"),
    "notes for context": re.compile(r"notes for context|opmerkingen ter informatie", re.IGNORECASE),
    "snake_case code": re.compile(r"(?<![\w.@#-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@#-])"),
    "None": re.compile(r"\bNone\b"),
    "null": re.compile(r"\bnull\b"),
    "raw ISO timestamp": re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"),
    "unfilled placeholder": re.compile(r"\{[a-z_]+\}"),
    "hard-coded step number": re.compile(r"^(?:Step|Stap) \d"),
    # Microsoft's codes as they arrive (`unlikelyTravel`, `bodyOrSubjectContains`, `FullAccess`, `BlindCopyTo`):
    # two or more words run together. Not a part of an address, a dotted permission (`AuditLog.Read.All`) or a
    # cmdlet (`New-InboxRule`), and not a name with one capital letter at its end (`MeganL`).
    "Microsoft code": re.compile(r"(?<![\w.@/#-])(?:[a-z][a-z0-9]*|[A-Z][a-z0-9]+)(?:[A-Z]+[a-z0-9]+)+"
                                 r"(?![\w@/#-]|\.\w)"),
}
# Microsoft's own names, shown as Microsoft writes them: a Graph permission an app was granted, products, and the
# name of Microsoft's app a sign-in used (sign-in `appDisplayName`, e.g. "OfficeHome"): names, not codes.
MICROSOFT_NAMES = frozenset({"offline_access", "OneDrive", "SharePoint", "PowerShell", "OfficeHome"})
# Catalog keys that look like text: a key shown instead of its sentence means the key is missing.
_KEY = re.compile(r"\b[a-z_]+(?:\.[a-z_]+){1,3}\b")
KEYS = frozenset(CATALOGS["en"])
_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
_ADDRESS = re.compile(r"[^\s,;:()]+@[^\s,;:()]+")


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def leaks(text: str) -> list[str]:
    """What in `text` a person should not read, as `kind: match`."""
    found = []
    text = _ADDRESS.sub(" ", text)  # a mail address is the tenant's own text: underscores and all
    for kind, pattern in DENIED.items():
        for match in pattern.finditer(text):
            if match.group(0) not in MICROSOFT_NAMES:
                found.append(f"{kind}: {match.group(0)}")
    found += [f"catalog key: {m.group(0)}" for m in _KEY.finditer(text) if m.group(0) in KEYS]
    return found


# ------------------------------------------------------------------------------------------ the catalogs


def test_every_plural_form_is_in_both_catalogs() -> None:
    assert sorted(set(ONE["en"]) ^ set(ONE["nl"])) == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_singular_form_has_its_general_form_and_the_same_placeholders(lang: str) -> None:
    for key, singular in ONE[lang].items():
        assert key in CATALOGS[lang], key
        # The singular may leave the count unsaid ("This block lifts by itself"), never add a value of its own.
        assert _placeholders(singular) <= _placeholders(CATALOGS[lang][key]) | set(COUNT_PARAMS), key
        assert _placeholders(singular) == _placeholders(ONE["en"][key]), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_catalog_text_hedges_a_plural_or_shows_an_internal_word(lang: str) -> None:
    texts = {**CATALOGS[lang], **{f"{k} (one)": v for k, v in ONE[lang].items()}}
    hedged = [k for k, v in texts.items() if re.search(r"\w\((?:s|en)\)|/personen|\(notes for context", v)]
    assert hedged == []
    internal = [(k, leak) for k, v in texts.items() for leak in leaks(_PLACEHOLDER.sub("X", v))]
    assert internal == []


def test_dutch_addresses_the_reader_as_je_throughout() -> None:
    formal = [k for k, v in {**CATALOGS["nl"], **ONE["nl"]}.items() if re.search(r"\b(?:[Uu]w|[Uu])\b", v)]
    assert formal == []


def test_the_deny_list_catches_what_it_is_for() -> None:
    assert leaks("Activity: Principal") == ["audit or consent type: Principal"]
    assert leaks("Nothing suspicious found (notes for context: 1).") == ["notes for context: notes for context"]
    assert leaks("Code: sign_in_new_country") == ["snake_case code: sign_in_new_country"]
    assert leaks("removed again at 2026-12-06T15:04:09Z") == ["raw ISO timestamp: 2026-12-06T15:04"]
    assert leaks("Step 2: unblock it") == ["hard-coded step number: Step 2"]
    assert leaks("Value: None, null") == ["None: None", "null: null"]
    assert leaks("help.admin.triage") == ["catalog key: help.admin.triage"]
    assert leaks("Risk type: unlikelyTravel · anonymizedIPAddress") == [
        "Microsoft code: unlikelyTravel", "Microsoft code: anonymizedIPAddress"]
    assert leaks("Condition: bodyOrSubjectContains: invoice. Has FullAccess (BlindCopyTo).") == [
        "Microsoft code: bodyOrSubjectContains", "Microsoft code: FullAccess", "Microsoft code: BlindCopyTo"]
    assert leaks("Who: Megan Lewis, MeganL · AuditLog.Read.All · New-InboxRule · App: OfficeHome · IP 192.0.2.7") == []
    # Tenant text and Microsoft's names stay: addresses with underscores, a permission name, an IP address.
    assert leaks("jordan_partner.example#EXT#@example.onmicrosoft.com has Mail.Read, offline_access (192.0.2.7)") == []


# ----------------------------------------------------------------------------- cards for the demo seed


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("locale", LOCALES)
def test_help_and_welcome_cards_show_no_internal_word(role: Role, locale: str) -> None:
    for card in (help_card("Megan Bowen", role, locale), welcome_card(locale, role)):
        assert [leak for line in lines(card) for leak in leaks(line)] == []


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo_tenant")


@pytest.fixture
async def stack(demo_dir: Path) -> AsyncIterator[DemoStack]:
    async with demo_stack(demo_dir) as running:
        yield running


async def _seeded_investigations(stack: DemoStack) -> list[Investigation]:
    """An investigation of every seeded user with a mailbox address (restricted or not)."""
    users = json.loads(SEED.read_text(encoding="utf-8"))["graph"]["users"]
    found = []
    for address in [str(u["mail"]) for u in users if u.get("mail")]:
        resolution = await resolve_account(stack.tenant, address)
        if resolution.outcome == Outcome.found and resolution.user is not None:
            found.append(await stack.collector().investigate(resolution.user))
    return found


def _card_leaks(investigations: list[Investigation]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for investigation in investigations:
        name = investigation.evidence.user.user_principal_name
        for locale in LOCALES:
            for can_act in (True, False):
                card = findings_card(investigation, case_id="c1", viewer_can_act=can_act, locale=locale,
                                     time_zone="Europe/Amsterdam")
                for line in lines(card):
                    for leak in leaks(line):
                        found.setdefault(f"{name} {locale}", []).append(f"{leak} in {line!r}")
    return found


async def test_no_findings_card_of_the_demo_seed_shows_an_internal_word(stack: DemoStack) -> None:
    investigations = await _seeded_investigations(stack)
    assert len(investigations) >= 5
    found = _card_leaks(investigations)
    assert {who: items for who, items in found.items() if items} == {}


TEAMS_MESSAGE_LIMIT = 28_000


async def test_every_seeded_card_fits_a_teams_message_with_every_part_open_to_it(stack: DemoStack) -> None:
    """Folded parts still travel in the card: the fullest card (buttons, the IT note) of every seeded account stays
    under Teams' ~28 KB message limit in both languages."""
    sizes = {}
    for investigation in await _seeded_investigations(stack):
        for locale in LOCALES:
            card = findings_card(investigation, case_id="c1", viewer_can_act=True, locale=locale,
                                 time_zone="Europe/Amsterdam", can_send_note=True)
            sizes[f"{investigation.evidence.user.user_principal_name} {locale}"] = len(json.dumps(card))
    assert max(sizes.values()) > 10_000  # Megan's card is a big one: the test measures something
    assert {who: size for who, size in sizes.items() if size >= TEAMS_MESSAGE_LIMIT} == {}


async def test_the_removed_time_of_an_inbox_rule_is_shown_in_words(stack: DemoStack) -> None:
    """The time a rule was removed again (Megan's "." rule, from the audit log) reads as a time, not ISO 8601."""
    leaks_found = _card_leaks(await _seeded_investigations(stack))
    assert not any("raw ISO timestamp" in leak for items in leaks_found.values() for leak in items)


def test_the_plural_reaches_the_findings_card_sentences() -> None:
    from cards.findings import template_runs

    def sentence(locale: str, count: str) -> str:
        return "".join(run.text for run in template_runs(locale, "reason.only_low", {"count": count}))

    assert sentence("en", "1") == t("en", "reason.only_low", count=1) and "1 thing is" in sentence("en", "1")
    assert "2 things are" in sentence("en", "2")
    assert "1 ding" in sentence("nl", "1") and "2 dingen" in sentence("nl", "2")
