"""Merging the two views of a mailbox's inbox rules: Graph's `messageRules` and Exchange's `Get-InboxRule`.

Graph does not return hidden rules (made hidden through MAPI, a known attacker trick); `Get-InboxRule -Mailbox …
-IncludeHidden` returns them with the others. The two share no id (Graph's rule id and Exchange's `RuleIdentity`
are unrelated encodings), so a Graph rule is paired with the Exchange rule of the same name, the nearest in
priority when names repeat. Every rule appears once: a paired one as Graph's (Graph can disable it) with Exchange's
`RuleIdentity`, a rule only Exchange returned as hidden.

It also reads what a rule is about: the payment or security wording its conditions target (`sensitive_words`), the
senders it names (`named_correspondents`), and the well-known identity of the folder it moves mail to, in any mailbox
language (`folder_identity`). `investigation.indicators` weighs rules with them (the rules are written there, at
`rule_hiding`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from m365.records import InboxRule, MailFolder

# Outlook's own rule, present (hidden) in every mailbox: Exchange returns it with -IncludeHidden, Graph never does.
# It carries no conditions or actions that Get-InboxRule shows, so it is no sign of anything.
OUTLOOK_JUNK_RULE = "junk e-mail rule"


def _key(name: str) -> str:
    return name.strip().casefold()


def merge_rules(graph: Sequence[InboxRule] | None,
                exchange: Sequence[InboxRule] | None) -> tuple[InboxRule, ...] | None:
    """Graph's rules, each paired with its Exchange twin, then the rules only Exchange returned, marked hidden.

    None for either side means it could not be read: Graph's rules alone are returned unchanged, Exchange's
    alone are returned unmarked (without Graph nothing tells which are hidden); both None is None.
    """
    if exchange is None:
        return tuple(graph) if graph is not None else None
    if graph is None:
        return tuple(exchange)
    unmatched = list(exchange)
    merged: list[InboxRule] = []
    for rule in sorted(graph, key=lambda r: r.sequence):
        same_name = [x for x in unmatched if _key(x.display_name) == _key(rule.display_name)]
        twin = min(same_name, key=lambda x: abs(x.sequence - rule.sequence), default=None)
        if twin is None:
            merged.append(rule)
            continue
        unmatched.remove(twin)
        merged.append(dataclasses.replace(rule, rule_identity=twin.rule_identity, source="both"))
    for rule in sorted(unmatched, key=lambda r: r.sequence):
        merged.append(dataclasses.replace(rule, hidden=True, source="exchange"))
    return tuple(merged)


def is_outlook_junk_rule(rule: InboxRule) -> bool:
    """True for Outlook's hidden "Junk E-Mail Rule" as Exchange shows it (no actions of its own)."""
    acts = (rule.external_targets or rule.delete or rule.permanent_delete or rule.move_to_folder or rule.mark_as_read)
    return _key(rule.display_name) == OUTLOOK_JUNK_RULE and not acts


# ------------------------------------------------------------------------------------------ rule content
#
# What makes a rule the attacker's rather than the user's housekeeping (`rule_traits`). A rule that deletes or
# files mail the user plainly does not want (Microsoft's own example, "Remove spam": delete mail whose subject
# contains "enter to win") is no compromise sign on its own. These are:
#
# - `sensitive_words`: its conditions target payment or security wording (`SENSITIVE_WORDS`), the mail an attacker
#   must keep from the user: the bank's "new IBAN?" reply, a colleague's "were you hacked?".
# - `named_correspondents`: it acts on mail from named addresses (`fromAddresses`, or an address in
#   `senderContains`): replies from the people the attacker is writing to, as the user.
# - `throwaway_name`: the rule or its target folder has a throw-away name (".", "..", ",", one character).
# - `hidden`: it is hidden from Outlook and Graph (only MAPI makes such rules; users cannot).
# - `created_in_window`: the audit log shows it created or changed in the investigation window (when that log was
#   read; Graph's messageRule and Exchange's Get-InboxRule carry no date of their own).

# Payment and security wording, English, Dutch and German, lower case. Stems of five letters or more match anywhere
# in a condition word (Dutch and German glue words together: "bankrekeningnummer", "Passwortänderung"); shorter ones
# only at the start of a word ("bank" in "banking", not "iban" inside "caribbean").
SENSITIVE_WORDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "payment": (
        # English
        "payment", "invoice", "bank", "iban", "swift", "wire", "transfer", "remittance", "account number",
        "account details", "direct deposit", "payroll", "purchase order", "overdue", "billing", "paypal",
        # Dutch
        "betaling", "betaal", "factuur", "facturen", "rekening", "overboeking", "overmaking", "incasso", "salaris",
        "bankgegevens",
        # German
        "zahlung", "rechnung", "überweisung", "ueberweisung", "konto", "bankverbindung", "gehalt",
    ),
    "security": (
        # English
        "password", "passcode", "security", "hack", "phish", "compromis", "suspicious", "unusual", "fraud", "scam",
        "virus", "malware", "verification code", "sign-in", "mfa",
        # Dutch
        "wachtwoord", "beveiliging", "gehackt", "verdacht", "fraude", "oplichting", "inlogcode", "verificatie",
        # German
        "passwort", "kennwort", "sicherheit", "verdächtig", "betrug", "anmeldung",
    ),
})
# The `messageRulePredicates` (and their Exchange twins, see m365.records) whose values are words to look for.
TEXT_CONDITIONS: tuple[str, ...] = (
    "subjectContains", "bodyContains", "bodyOrSubjectContains", "senderContains", "headerContains",
    "recipientContains",
)
_SHORT_STEM = 5


def _word_pattern() -> re.Pattern[str]:
    parts = [re.escape(w) if len(w) >= _SHORT_STEM else r"\b" + re.escape(w)
             for words in SENSITIVE_WORDS.values() for w in words]
    return re.compile("|".join(parts))


_SENSITIVE = _word_pattern()
_CATEGORY = {w: category for category, words in SENSITIVE_WORDS.items() for w in words}


def _condition_words(rule: InboxRule) -> list[str]:
    words: list[str] = []
    for key in TEXT_CONDITIONS:
        value = rule.conditions.get(key)
        if isinstance(value, str):
            words.append(value)
        elif isinstance(value, list | tuple):
            words.extend(v for v in value if isinstance(v, str))
    return words


def sensitive_words(rule: InboxRule) -> tuple[tuple[str, str], ...]:
    """The rule's condition words that target payment or security mail, as `(category, word)` pairs
    ("payment"/"security"), in the rule's order, each word once."""
    found: dict[str, str] = {}
    for word in _condition_words(rule):
        text = word.casefold()
        match = _SENSITIVE.search(text)
        if match is None or word in found:
            continue
        stem = match.group(0).lstrip()
        found[word] = _CATEGORY.get(stem, "payment")
    return tuple((category, word) for word, category in found.items())


def named_correspondents(rule: InboxRule) -> tuple[str, ...]:
    """The addresses the rule's conditions name as senders (`fromAddresses`, or an address in `senderContains`)."""
    out: list[str] = []
    for item in rule.conditions.get("fromAddresses") or ():
        if isinstance(item, Mapping):
            address = item.get("emailAddress")
            if isinstance(address, Mapping) and isinstance(address.get("address"), str) and address["address"]:
                out.append(address["address"])
        elif isinstance(item, str) and item:
            out.append(item)
    senders = rule.conditions.get("senderContains")
    if isinstance(senders, list | tuple):
        out.extend(s for s in senders if isinstance(s, str) and "@" in s.strip("@"))
    return tuple(dict.fromkeys(out))


# ------------------------------------------------------------------------------------------ folders
#
# Where a rule moves mail, by the folder's WELL-KNOWN identity rather than its display name, which is in the mailbox's
# language ("Junk Email", "Ongewenste e-mail", "Junk-E-Mail"). Graph resolves the v1.0 well-known names by path
# segment (`/mailFolders/junkemail`) in every language; `MailFolder.well_known_name` carries that answer. Outlook's
# RSS folders and Notes have no v1.0 well-known name (microsoft-graph-docs-contrib api-reference/v1.0/resources/
# mailfolder.md lists none), so for them — and for folders Graph could not be asked about — Outlook's default names in
# the languages below map to the same identity.

# Folders nobody files mail into on purpose: mail moved there is mail the user never sees.
UNREAD_FOLDERS: frozenset[str] = frozenset({"rssfeeds", "rsssubscriptions", "conversationhistory", "notes",
                                            "syncissues", "conflicts", "localfailures", "serverfailures"})
# Folders where unwanted mail goes: hidden from the inbox, and also where users file what they do not want.
DISPOSAL_FOLDERS: frozenset[str] = frozenset({"deleteditems", "junkemail", "archive"})

# Outlook's default folder names (compared case-insensitively) → the well-known identity.
LOCALISED_FOLDER_NAMES: Mapping[str, str] = MappingProxyType({
    # RSS Feeds (Outlook 2013 and later) and RSS Subscriptions (older Outlook, Microsoft's attack write-up)
    "rss feeds": "rssfeeds", "rss-feeds": "rssfeeds", "rssfeeds": "rssfeeds", "flux rss": "rssfeeds",
    "fuentes rss": "rssfeeds", "feed rss": "rssfeeds", "feeds rss": "rssfeeds",
    "rss subscriptions": "rsssubscriptions", "rsssubscriptions": "rsssubscriptions",
    "rss-abonnementen": "rsssubscriptions", "rss-abonnements": "rsssubscriptions",
    "abonnements rss": "rsssubscriptions", "suscripciones rss": "rsssubscriptions",
    # Conversation History
    "conversation history": "conversationhistory", "conversationhistory": "conversationhistory",
    "gespreksgeschiedenis": "conversationhistory", "unterhaltungsverlauf": "conversationhistory",
    "historique des conversations": "conversationhistory", "historial de conversaciones": "conversationhistory",
    # Notes
    "notes": "notes", "notities": "notes", "notizen": "notes", "notas": "notes",
    # Sync Issues
    "sync issues": "syncissues", "synchronisatieproblemen": "syncissues", "synchronisierungsprobleme": "syncissues",
    # Archive
    "archive": "archive", "archief": "archive", "archiv": "archive", "archivo": "archive",
    # Junk Email
    "junk email": "junkemail", "junk e-mail": "junkemail", "junkemail": "junkemail",
    "ongewenste e-mail": "junkemail", "junk-e-mail": "junkemail", "courrier indésirable": "junkemail",
    "correo no deseado": "junkemail",
    # Deleted Items
    "deleted items": "deleteditems", "deleteditems": "deleteditems", "verwijderde items": "deleteditems",
    "gelöschte elemente": "deleteditems", "éléments supprimés": "deleteditems", "elementos eliminados": "deleteditems",
})


def folder_identity(folder_id: str | None, folders: Sequence[MailFolder] | None) -> tuple[str, str | None]:
    """A rule's move target as `(display name or raw id, well-known identity or None)`.

    The folder Graph resolved by well-known name wins; then its display name in `LOCALISED_FOLDER_NAMES`; a target
    that matches no folder may be a well-known name itself (Exchange rules can carry one instead of an id).
    """
    target = folder_id or ""
    for folder in folders or ():
        if folder.id == target:
            known = (folder.well_known_name or "").casefold() or None
            if known is None:
                known = LOCALISED_FOLDER_NAMES.get(folder.display_name.strip().casefold())
            return folder.display_name or target, known
    return target, LOCALISED_FOLDER_NAMES.get(target.strip().casefold())
