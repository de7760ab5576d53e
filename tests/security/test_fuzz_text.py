"""Hostile input at the text entry points: intent and bounce recognition, yes/no, account resolution.

Everything a person types reaches `dialogs.intents.recognize` (and `yes_no` in a confirm prompt) and, for an
account, `investigation.resolve`. The properties, for arbitrary text (control, zero-width and bidi
characters, every Unicode plane, Markdown and OData syntax, 20,000-character messages):

* nothing raises, and every answer is one of the documented values;
* invisible characters cannot change what a message means (inserting them anywhere changes nothing);
* a pasted bounce is always the speaker's own report, never an investigation of an account it names;
* recognition stays fast on adversarial shapes (no catastrophic regex backtracking on the event loop);
* a query that reaches the tenant is bounded and clean, and cannot break out of its OData literal.
"""

from __future__ import annotations

import re
import time
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dialogs.intents import MAX_TEXT, Intent, normalise, recognize, yes_no
from investigation.resolve import MAX_CHOICES, MAX_QUERY, Outcome, check_query, normalise_query, resolve_account
from m365.records import User
from m365.tenant import M365Tenant
from tests.fakes import FakeTenant

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff\u00ad"
SYNTAX = "[]()*_`#<>|~\\!:.-'\"@;,&=%$/{}\n\r\t\x00\x1b\x7f"
# Words the patterns are made of: random text built from them reaches deep into every pattern.
WORDS = ("investigate", "check", "look into", "onderzoek", "account", "user", "my", "mijn", "ik", "i", "me",
         "mail", "e-mail", "bericht", "bounces", "bounced", "komt", "terug", "can't", "send", "niet", "versturen",
         "is", "has been", "was", "blocked", "restricted", "geblokkeerd", "5.1.8", "550", "bad outbound sender",
         "undeliverable:", "your message couldn't be delivered", "kan niet worden bezorgd", "help", "cancel",
         "yes", "ja", "nee", "no", "status", "alerts", "here", "notify it", "megan", "MeganB@example.com",
         "mailto:", "<", ">", "'", "\"", " ", "  ", ".", "?", "!")
NDR_MARKERS = ("5.1.8", "550 5.1.8 Access denied, bad outbound sender", "bad outbound sender",
               "Your message couldn't be delivered", "Delivery has failed to these recipients or groups",
               "kan niet worden bezorgd", "ongeldige uitgaande afzender")

hostile_chars = st.one_of(st.characters(codec="utf-8"), st.sampled_from(list(INVISIBLE + SYNTAX)))
hostile_text = st.text(hostile_chars, max_size=400)
word_salad = st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join)
messages = st.one_of(hostile_text, word_salad, st.tuples(word_salad, hostile_text).map("".join))


def plain(text: str) -> bool:
    """No control or format characters (what normalisation promises the rest of the bot)."""
    return all(unicodedata.category(ch) not in ("Cc", "Cf") for ch in text)


# ---------------------------------------------------------------------------------------- intents


@FUZZ
@given(text=st.one_of(st.none(), messages))
@example(text="\u202einvestigate megan")
@example(text="investigate " + "\u200b" * 5000)
@example(text="my mail is blocked")
@example(text="investigate my mail")
def test_recognize_never_raises_and_answers_a_known_intent(text: str | None) -> None:
    recognized = recognize(text)
    assert recognized.intent in set(Intent)
    assert recognized.argument == recognized.argument.strip()
    assert len(recognized.argument) <= MAX_TEXT
    assert plain(recognized.argument)
    if recognized.intent != Intent.INVESTIGATE:
        assert recognized.argument == ""
    else:
        # The speaker's own mail is never an investigation of an account called "my mail".
        assert not re.match(r"(?:my|mine|me|i|mijn|ik|mij)\b", recognized.argument, re.IGNORECASE)


@FUZZ
@given(text=word_salad, inserts=st.lists(st.tuples(st.integers(0, 400), st.sampled_from(list(INVISIBLE))),
                                         max_size=8))
@example(text="investigate megan", inserts=[(3, "\u200b"), (12, "\u202e")])
@example(text="my mail bounces", inserts=[(2, "\u2066")])
def test_invisible_characters_change_nothing(text: str, inserts: list[tuple[int, str]]) -> None:
    hidden = text
    for position, char in inserts:
        position = min(position, len(hidden))
        hidden = hidden[:position] + char + hidden[position:]
    assert recognize(hidden) == recognize(text)
    assert yes_no(hidden) == yes_no(text)


@FUZZ
@given(text=messages)
def test_normalise_is_bounded_plain_and_idempotent(text: str) -> None:
    value = normalise(text)
    assert len(value) <= MAX_TEXT
    assert all(unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\n\t" for ch in value)
    assert normalise(value) == value
    assert recognize(value) == recognize(text)


@FUZZ
@given(before=messages, marker=st.sampled_from(NDR_MARKERS), after=messages)
@example(before="investigate PattiF@example.com", marker="5.1.8", after="")
@example(before="Megan Bowen is", marker="bad outbound sender", after="is blocked")
def test_a_pasted_bounce_is_always_the_speakers_own_report(before: str, marker: str, after: str) -> None:
    """Whatever a pasted bounce names, it checks the speaker's own account (REPORT_BOUNCE has no argument)."""
    text = f"{before}\n{marker}\n{after}"
    assume(len(normalise(text)) < MAX_TEXT - 100)  # the marker must survive the length cap
    recognized = recognize(text)
    assert recognized.intent == Intent.REPORT_BOUNCE, (text[:200], recognized)
    assert recognized.argument == ""


@FUZZ
@given(text=st.one_of(st.none(), messages))
@example(text="yes")
@example(text="\u200bja\u202e")
def test_yes_no_answers_true_false_or_none(text: str | None) -> None:
    assert yes_no(text) in (True, False, None)


@pytest.mark.parametrize("word", ["yes", "Yes!", "ja", "ok", "1", "  y  "])
def test_yes_with_hidden_characters_is_still_yes(word: str) -> None:
    assert yes_no("\u200b" + word + "\u202e") is True


# Shapes that make backtracking regexes explode: long runs of the words the patterns look for, with and
# without the ending that would complete a match, and characters NFKC expands eighteen-fold.
ADVERSARIAL = {
    "spaces": "a" + " " * 19_990 + "b",
    "words": "a " * 10_000,
    "own words": "my mail " * 2_500,
    "failures": "my mail can't send " * 1_000,
    "not": "not " * 5_000,
    "is blocked, unfinished": "x is " * 4_000,
    "is blocked, at the end": "x " * 9_990 + "is blocked",
    "has been": "has been " * 2_200,
    "investigate": "investigate " * 1_600,
    "ndr prefix": "your message " * 1_500,
    "dotted numbers": "5.1." * 5_000,
    "dutch ndr": "kan niet worden " * 1_300,
    "nfkc expansion": "\ufdfa" * 20_000,
    "zero-width": "\u200b" * 20_000 + "help",
    "apostrophes": "\u2019" * 20_000,
    "over the cap": "investigate " + "m" * 100_000,
}
TIME_BUDGET_SECONDS = 1.0  # measured: the worst shape takes about 60 ms; the budget leaves room for slow CI


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_recognition_is_fast_on_adversarial_shapes(name: str) -> None:
    text = ADVERSARIAL[name]
    started = time.perf_counter()
    recognize(text)
    yes_no(text)
    normalise_query(text)
    assert time.perf_counter() - started < TIME_BUDGET_SECONDS


@SLOW_FUZZ
@given(unit=word_salad.filter(bool), repeat=st.integers(50, 2_000))
def test_recognition_is_fast_on_long_repetitions(unit: str, repeat: int) -> None:
    text = ((unit + " ") * repeat)[: MAX_TEXT + 500]
    started = time.perf_counter()
    recognize(text)
    yes_no(text)
    assert time.perf_counter() - started < TIME_BUDGET_SECONDS


# ------------------------------------------------------------------------------------- resolution

def user(user_id: str, upn: str, name: str) -> User:
    return User(id=user_id, user_principal_name=upn, display_name=name, mail=upn, mail_nickname=upn.split("@")[0])


PEOPLE = [
    user("u1", "MeganB@example.com", "Megan Bowen"),
    user("u2", "MeganR@example.com", "Megan Reyes"),
    user("u3", "PattiF@example.com", "Patti Fernandez"),
    user("u4", "o'brien@example.com", "Seán O'Brien"),
]


@FUZZ
@given(text=messages)
@example(text="mailto:<MeganB@example.com>")
@example(text="'; DROP TABLE users; --")
@example(text="x" * 300)
def test_normalise_and_check_query(text: str) -> None:
    query = normalise_query(text)
    assert plain(query)
    assert query == query.strip()
    problem = check_query(query)
    assert problem in ("", "empty", "too_long", "malformed_address")
    if not problem:
        assert 0 < len(query) <= MAX_QUERY


@FUZZ
@given(text=st.one_of(messages, st.sampled_from(["megan", "MeganB@example.com", "o'brien@example.com", "Seán"])))
async def test_resolve_account_never_raises_and_sends_only_clean_bounded_queries(text: str) -> None:
    tenant = FakeTenant(users=list(PEOPLE))
    resolution = await resolve_account(tenant, text)
    assert resolution.outcome in set(Outcome)
    sent = tenant.called("find_users")
    if resolution.outcome == Outcome.invalid:
        assert sent == [] and resolution.problem
        return
    assert sent == [(resolution.query,)]
    assert 0 < len(resolution.query) <= MAX_QUERY and plain(resolution.query)
    if resolution.outcome == Outcome.found:
        assert len(resolution.users) == 1
    elif resolution.outcome == Outcome.many:
        assert 1 < len(resolution.users) <= MAX_CHOICES


class RecordingGraph:
    """Stands in for `GraphClient` under the real `M365Tenant.find_users`: records the OData it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str | None]] = []

    async def list_users(self, filter_: str | None = None, *, search: str | None = None, top: int = 10) -> list[User]:
        self.calls.append((filter_, search))
        return []

    async def get_user(self, id_or_upn: str) -> User:
        from m365.errors import NotFound

        raise NotFound("no such user")


_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_FILTER_SHAPES = {
    "(userPrincipalName eq L or mail eq L or proxyAddresses/any(x:x eq L))",
    "mailNickname eq L",
}


@FUZZ
@given(text=messages)
@example(text="o'brien@example.com")
@example(text="x' or startswith(displayName,'a')")
@example(text='Megan" OR "displayName:a')
@example(text="a\\\"b")
async def test_a_query_cannot_break_out_of_its_odata_literal(text: str) -> None:
    query = normalise_query(text)
    assume(not check_query(query))
    graph = RecordingGraph()
    tenant = M365Tenant(graph, exchange=Any, tenant_id="t")  # type: ignore[arg-type]
    await tenant.find_users(query)
    wanted = query.strip()
    for filter_, search in graph.calls:
        if filter_ is not None:
            literals = [m.replace("''", "'") for m in _LITERAL.findall(filter_)]
            assert _LITERAL.sub("L", filter_) in _FILTER_SHAPES, filter_
            assert literals and all(value in (wanted, f"smtp:{wanted}") for value in literals), filter_
        if search is not None:
            assert search.startswith('"displayName:') and search.endswith('"')
            inner = search[len('"displayName:'):-1]
            assert not re.search(r'(?<!\\)(?:\\\\)*"', inner), search  # every quote inside is escaped
            # The words searched for are the query's (quotes and backslashes may be dropped, never added).
            searched = re.sub(r"\\(.)", r"\1", inner)
            assert re.sub(r'[\s"\\]', "", searched) == re.sub(r'[\s"\\]', "", wanted), search
