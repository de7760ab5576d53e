"""Merging the two views of a mailbox's inbox rules: Graph's `messageRules` and Exchange's `Get-InboxRule`.

Graph does not return hidden rules (made hidden through MAPI, a known attacker trick); `Get-InboxRule -Mailbox …
-IncludeHidden` returns them with the others. The two share no id (Graph's rule id and Exchange's `RuleIdentity`
are unrelated encodings), so a Graph rule is paired with the Exchange rule of the same name, the nearest in
priority when names repeat. Every rule appears once: a paired one as Graph's (Graph can disable it) with Exchange's
`RuleIdentity`, a rule only Exchange returned as hidden.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from m365.records import InboxRule

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
