"""Recognising a user's report of bounced mail, in English and Dutch, and what is deliberately not one.

Decisions, so they are not re-litigated by accident:

* A pasted bounce is known by its markers anywhere in the message (`5.1.8`, "bad outbound sender", Outlook's
  "Delivery has failed…", Dutch "kan niet worden bezorgd", "ongeldige uitgaande afzender"…), however long.
* The user's own words need a first-person word, a mail word and a failure word, in at most 300 characters:
  "my mail bounces", "ik kan niet mailen", "is my email blocked?".
* Not reports: no mail word ("I can't send the report by Friday", "my laptop is blocked"); about someone else
  without a bounce ("Megan is blocked" is IT's investigate command); "check Megan, her mail bounces"
  (investigate); "toegang geweigerd" alone (access denied to anything).
* A pasted bounce wins over the investigate command ("investigate 550 5.1.8 …" checks the speaker's own account):
  the report flow never looks up anyone else.
"""

from __future__ import annotations

import time

import pytest

from dialogs.intents import Intent, Recognized, matching_intents, recognize

ENGLISH = [
    "my mail bounces",
    "My mail bounces!",
    "my emails are bouncing",
    "my email keeps bouncing back",
    "I can't send email",
    "I can’t send emails anymore",
    "I cannot send mail to customers",
    "I am unable to send email",
    "my mail is blocked",
    "is my mail blocked?",
    "my messages come back",
    "my emails get rejected",
    "I got a bounce",
    "I keep getting undeliverable messages when I email",
    "we can't send email",
    "check my mail bounces",
    "help, my outlook won't send",
    "mail bounces",
    "bounce",
]
DUTCH = [
    "mijn mail komt terug",
    "Mijn mail komt terug",
    "mijn mails komen terug",
    "mijn mail wordt geweigerd",
    "mijn e-mail wordt geblokkeerd",
    "ik kan niet mailen",
    "ik kan niet meer mailen",
    "ik kan geen mail versturen",
    "ik kan mijn mail niet versturen",
    "ik kan geen e-mails meer sturen",
    "mijn berichten worden niet bezorgd",
    "mijn mail gaat niet weg",
    "mail komt terug",
]
PASTED = [
    "Remote Server returned '550 5.1.8 Access denied, bad outbound sender'",
    "550 5.1.8 Access denied, bad outbound sender AS(42003)",
    "Undeliverable: Quarterly figures\nDelivery has failed to these recipients or groups:\nPattiF@example.com",
    "Your message couldn't be delivered because you weren't recognized as a valid sender.",
    "Toegang geweigerd, ongeldige uitgaande afzender",
    "Onbestelbaar: Kwartaalcijfers",
    "Uw bericht kan niet worden bezorgd omdat u niet bent herkend als een geldige afzender.",
    "De bezorging aan deze geadresseerden of groepen is mislukt: jan@klant.example",
    "investigate 550 5.1.8 bad outbound sender",
    "Megan is blocked: 550 5.1.8",
]
NOT_REPORTS = [
    "I can't send the report by Friday",
    "I can't send the invoice today",
    "my laptop is blocked",
    "toegang geweigerd",
    "access denied",
    "version 15.1.8 is out",
    "5.1.80",
    "send me the figures",
    "hi",
    "",
    "🙂🙂",
    "x" * 10_000,
]


@pytest.mark.parametrize("text", ENGLISH + DUTCH + PASTED)
def test_reports_are_recognised(text: str) -> None:
    assert recognize(text).intent == Intent.REPORT_BOUNCE
    assert matching_intents(text) == [Intent.REPORT_BOUNCE]


@pytest.mark.parametrize("text", NOT_REPORTS)
def test_these_are_not_reports(text: str) -> None:
    assert recognize(text).intent != Intent.REPORT_BOUNCE


@pytest.mark.parametrize(("text", "intent", "argument"), [
    ("Megan is blocked", Intent.INVESTIGATE, "Megan"),
    ("check Megan, her mail bounces", Intent.INVESTIGATE, "Megan, her mail bounces"),
    ("investigate MeganB@example.com", Intent.INVESTIGATE, "MeganB@example.com"),
    ("PattiF@example.com is restricted", Intent.INVESTIGATE, "PattiF@example.com"),
])
def test_someone_elses_account_stays_an_investigation(text: str, intent: Intent, argument: str) -> None:
    assert recognize(text) == Recognized(intent, argument)
    assert matching_intents(text) == [intent]


def test_a_long_paste_is_recognised_quickly_even_with_the_marker_at_the_end() -> None:
    filler = "Received: from mail.example.com (10.0.0.1) by relay.example.net with SMTP; " * 260
    paste = filler[:19_000] + " 550 5.1.8 Access denied, bad outbound sender"
    started = time.perf_counter()
    assert recognize(paste).intent == Intent.REPORT_BOUNCE
    assert recognize("x " * 10_000).intent == Intent.UNKNOWN
    assert recognize("Megan " * 3_000 + "is blocked").intent == Intent.INVESTIGATE
    assert time.perf_counter() - started < 1.0
