"""Natural phrasing (English and Dutch), picking from a list, bare names and "did you mean": the pure parts.

The intent table stays deterministic: every sample below, and every sample of `test_intents.py`, matches exactly
one intent, so the order of the table never decides.
"""

from __future__ import annotations

import pytest
from microsoft_agents.hosting.dialogs.choices import Choice

from dialogs.intents import Intent, matching_intents, recognize
from dialogs.investigate import DECLINED, describe, is_exact, names_of, pick
from dialogs.main import looks_like_account
from dialogs.suggest import MAX_PROBES, allowed_mistakes, distance, mistakes, near_misses, probes
from m365.errors import UpstreamUnavailable
from m365.records import User
from tests.fakes import FakeTenant
from tests.unit.test_intents import SAMPLES as BASIC_SAMPLES

# (text, intent, argument)
PHRASES = [
    # investigate, English
    ("is meganb@contoso.com compromised?", Intent.INVESTIGATE, "meganb@contoso.com"),
    ("Is MeganB@example.com compromised", Intent.INVESTIGATE, "MeganB@example.com"),
    ("has Megan Bowen been hacked?", Intent.INVESTIGATE, "Megan Bowen"),
    ("was Grady hacked", Intent.INVESTIGATE, "Grady"),
    ("is Megan's account compromised?", Intent.INVESTIGATE, "Megan"),
    ("is the account of Patti Fernandez safe?", Intent.INVESTIGATE, "Patti Fernandez"),
    ("check Megan", Intent.INVESTIGATE, "Megan"),
    ("look into Megan Bowen", Intent.INVESTIGATE, "Megan Bowen"),
    ("investigate", Intent.INVESTIGATE, ""),
    ("Grady is blocked", Intent.INVESTIGATE, "Grady"),
    # investigate, Dutch
    ("is megan gehackt?", Intent.INVESTIGATE, "megan"),
    ("Is Megan Bowen gecompromitteerd?", Intent.INVESTIGATE, "Megan Bowen"),
    ("is het account van Megan gehackt?", Intent.INVESTIGATE, "Megan"),
    ("werd Grady gehackt", Intent.INVESTIGATE, "Grady"),
    ("controleer Megan", Intent.INVESTIGATE, "Megan"),
    ("onderzoek MeganB@example.com", Intent.INVESTIGATE, "MeganB@example.com"),
    # secure
    ("secure Patti", Intent.SECURE, "Patti"),
    ("Secure the account PattiF@example.com", Intent.SECURE, "PattiF@example.com"),
    ("lock down Patti Fernandez", Intent.SECURE, "Patti Fernandez"),
    ("secure", Intent.SECURE, ""),
    ("beveilig Patti", Intent.SECURE, "Patti"),
    ("beveilig het account van Patti", Intent.SECURE, "Patti"),
    ("beveilig de gebruiker Patti Fernandez", Intent.SECURE, "Patti Fernandez"),
    # unblock
    ("unblock Grady", Intent.UNBLOCK, "Grady"),
    ("Unblock user GradyA@example.com", Intent.UNBLOCK, "GradyA@example.com"),
    ("release Grady Archie", Intent.UNBLOCK, "Grady Archie"),
    ("unblock", Intent.UNBLOCK, ""),
    ("deblokkeer Grady", Intent.UNBLOCK, "Grady"),
    ("deblokkeer de gebruiker Grady", Intent.UNBLOCK, "Grady"),
    ("deblokkeer het account van Grady Archie", Intent.UNBLOCK, "Grady Archie"),
    # status
    ("status", Intent.STATUS, ""),
    ("what's my status?", Intent.STATUS, ""),
    ("can I send mail again?", Intent.STATUS, ""),
    ("am I still blocked?", Intent.STATUS, ""),
    ("wat is mijn status", Intent.STATUS, ""),
    ("hoe is mijn status?", Intent.STATUS, ""),
    ("kan ik weer mailen?", Intent.STATUS, ""),
    ("ben ik nog geblokkeerd?", Intent.STATUS, ""),
]


@pytest.mark.parametrize(("text", "intent", "argument"), PHRASES)
def test_natural_phrasing_is_understood(text: str, intent: Intent, argument: str) -> None:
    recognized = recognize(text)
    assert (recognized.intent, recognized.argument) == (intent, argument)


@pytest.mark.parametrize("text", [p[0] for p in PHRASES]
                         + [s for samples in BASIC_SAMPLES.values() for s in samples])
def test_no_phrase_matches_two_intents(text: str) -> None:
    """Routing never depends on the order of the table."""
    assert len(matching_intents(text)) == 1


@pytest.mark.parametrize(("text", "intent"), [
    ("unblock all", Intent.UNKNOWN),             # the triage card's bulk unblock, not an account "all"
    ("deblokkeer iedereen", Intent.UNKNOWN),
    ("unblock me", Intent.UNKNOWN),              # your own account: IT unblocks it, after your report
    ("secure my account", Intent.UNKNOWN),
    ("is my account compromised?", Intent.UNKNOWN),
    ("is there any news", Intent.STATUS),        # not "is <there any> news(?)"
    ("check the tenant", Intent.DIAGNOSE),
    ("my mail is blocked", Intent.REPORT_BOUNCE),
    ("is 550 5.1.8 bad outbound sender compromised", Intent.REPORT_BOUNCE),  # a pasted bounce stays a report
    ("who is blocked", Intent.TRIAGE),
])
def test_traps(text: str, intent: Intent) -> None:
    assert recognize(text).intent == intent


# --------------------------------------------------------------------------------------- picking from a list


def user(uid: str, name: str, upn: str, **kw: object) -> User:
    return User(id=uid, user_principal_name=upn, display_name=name, mail=upn,  # type: ignore[arg-type]
                mail_nickname=upn.split("@")[0], **kw)


BOWEN = user("1", "Megan Bowen", "MeganB@example.com")
LEWIS = user("2", "Megan Lewis", "MeganL@example.com")
GRADY = user("3", "Grady Archie", "GradyA@example.com", proxy_addresses=("smtp:grady@example.org",))
CHOICES = [Choice(value=describe(u), synonyms=names_of(u)) for u in (BOWEN, LEWIS)]


@pytest.mark.parametrize(("text", "index"), [
    ("1", 0), ("2", 1), (" 2 ", 1), ("3", None), ("0", None),
    ("Megan Bowen", 0), ("megan lewis", 1), ("MeganL@example.com", 1), ("meganb", 0),
    ("Megan Bowen (MeganB@example.com)", 0),      # the button sends the line as shown
    ("Lewis", 1), ("bowen", 0),                   # a word only one of them has
    ("the second one", 1), ("eerste", 0), ("de tweede", 1), ("last", 1),
    ("Megan", None),                              # both: never a guess
    ("no", DECLINED), ("nee", DECLINED), ("none of them", DECLINED), ("geen van beide", DECLINED),
    ("yes", None),                                # which one?
    ("Patti", None), ("", None),
])
def test_a_list_is_answered_by_number_name_address_or_button(text: str, index: int | None) -> None:
    assert pick(text, CHOICES) == index


def test_with_one_suggestion_yes_picks_it() -> None:
    one = [Choice(value=describe(BOWEN), synonyms=names_of(BOWEN))]
    assert pick("yes", one) == 0
    assert pick("ja", one) == 0
    assert pick("nee", one) == DECLINED


@pytest.mark.parametrize(("query", "exact"), [
    ("MeganB@example.com", True), ("meganb@EXAMPLE.com", True), ("MeganB", True), ("Megan Bowen", True),
    ("megan bowen", True), ("<mailto:MeganB@example.com>", True), ("Megan", False), ("Bowen", False),
])
def test_exact_names_need_no_confirmation(query: str, exact: bool) -> None:
    assert is_exact(BOWEN, query) is exact


def test_a_proxy_address_is_exact() -> None:
    assert is_exact(GRADY, "grady@example.org")


# --------------------------------------------------------------------------------------------- bare names


@pytest.mark.parametrize(("text", "expected"), [
    ("Megan Bowen", True), ("megan", True), ("Miriam O'Brien", True), ("gradya@example.com", True),
    ("Jean-Luc Picard", True),
    ("yes", False), ("nee", False), ("2", False), ("what is this thing doing now", False),
    ("🙂", False), ("", False), ("x" * 100, False), ("hello?!", True),
])
def test_what_looks_like_a_directory_name(text: str, expected: bool) -> None:
    assert looks_like_account(text) is expected


# --------------------------------------------------------------------------------------------- did you mean


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("megan", "megan", 0), ("megn", "megan", 1), ("mgean", "megan", 1), ("bowne", "bowen", 1),
    ("grady", "gardy", 1), ("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3),
])
def test_distance(a: str, b: str, expected: int) -> None:
    assert distance(a, b, limit=5) == expected


def test_distance_stops_early_past_the_limit() -> None:
    assert distance("a" * 60, "b" * 60, limit=2) == 3
    assert distance("abc", "abcdefgh", limit=2) == 3


@pytest.mark.parametrize(("query", "target", "close"), [
    ("Megn Bowen", BOWEN, True), ("Megan Bowne", BOWEN, True), ("Grdy", GRADY, True), ("gradyaa", GRADY, True),
    ("Archei", GRADY, True), ("Patti", GRADY, False), ("Megan Bowen", LEWIS, False),
])
def test_near_misses_are_a_few_typing_mistakes_away(query: str, target: User, close: bool) -> None:
    assert (mistakes(query, target) <= allowed_mistakes(query.split("@")[0].casefold())) is close


def test_probes_are_bounded() -> None:
    assert probes("Megn Bowen") == ["Me", "Bo"]
    assert len(probes("a b c d e f g h i j")) <= MAX_PROBES
    assert probes("megn@example.com") == ["me"]
    assert probes("x") == []


async def test_near_misses_come_from_the_tenants_search_and_cost_at_most_two_searches() -> None:
    fake = FakeTenant(users=[BOWEN, LEWIS, GRADY])
    found = await near_misses(fake, "Megn Bowen")
    assert found == (BOWEN,)
    assert len(fake.called("find_users")) <= MAX_PROBES
    assert await near_misses(fake, "Zzzz Qqqq") == ()


async def test_no_suggestions_when_the_directory_fails() -> None:
    fake = FakeTenant(users=[BOWEN])
    fake.failures["find_users"] = UpstreamUnavailable("down", status=503)
    assert await near_misses(fake, "Megn Bowen") == ()
