"""The triage cards: every restricted account on one list, and the bulk unblock of those with no signs.

* `triage_card`: the restricted accounts, worst first (compromised, suspicious, not checked, no signs of
  compromise; then the longest restricted first), `PAGE_SIZE` per page with Previous/Next. Each row: name and
  UPN, the verdict, since when the account is restricted, and the main reason (the verdict's one-line reason;
  for an account not yet judged, Microsoft's restriction reason or why it was not checked). Security admins get
  "Unblock all with no signs of compromise (N)" (saying how many of them lift by themselves). Each row has its
  own buttons: "Open" (`show_case`: that account's findings card) for a row with a case, and for the rows the
  viewer may unblock directly (no signs, a security admin, not their own account) "Unblock", the single unblock
  (`unblock`, through its confirmation). A compromised or suspicious row has no direct unblock: open the case.
* `triage_progress_card`: shown while the accounts are investigated; replaced by the list.
* `bulk_confirmation_card`: lists the accounts the bulk unblock would take off Restricted entities; those whose
  block lifts by itself (`investigation.resume`) are listed apart with the time, and leaving them is the first
  choice.
* `bulk_result_card`: what happened to each of them (unblocked and pending, skipped, failed and why).

Button data carries a verb and page numbers or a case id, plus, on Confirm, a fingerprint of the confirmed list,
which part of it (`scope`) and when it was shown; the server recomputes the list on every press. Tenant text
(names, UPNs, Microsoft's reason) only reaches `TextRun`s after `cards.text.clean()`, as on the findings card.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from microsoft_teams.cards import Action, ActionSet, CardElement, Container, ContainerStyle, TextBlock, TextRun

from cards.base import JsonDict, envelope, execute, heading, para
from cards.findings import (
    display_value,
    no_inputs,
    restriction_reason_runs,
    rich,
    template_runs,
    text_run,
)
from cards.text import clean
from cards.verbs import Verb
from investigation.reason import RestrictionReason
from locales import format_datetime, t

PAGE_SIZE = 25
# The confirmation names at most this many accounts (Teams' ~28 KB message limit); the rest are counted.
MAX_CONFIRM_LINES = 100
NAME_LIMIT = 80
REASON_LIMIT = 160
# What a card may take of Teams' ~28 KB message limit (the activity around it takes the rest).
CARD_BUDGET = 26_000
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class TriageVerdict(StrEnum):
    """What the triage list says about an account, in the order the list shows them."""

    compromised = "compromised"
    suspicious = "suspicious"
    not_checked = "not_checked"
    no_signs = "no_signs"


_RANK: Mapping[TriageVerdict, int] = MappingProxyType({v: i for i, v in enumerate(TriageVerdict)})
# The row's container carries the verdict's colour; its text stays the container's default colour, the only one
# with WCAG AA contrast on every coloured container in both Teams themes (tests/unit/test_contrast.py).
_STYLES: Mapping[TriageVerdict, ContainerStyle] = MappingProxyType({
    TriageVerdict.compromised: "attention",
    TriageVerdict.suspicious: "warning",
    TriageVerdict.not_checked: "emphasis",
    TriageVerdict.no_signs: "good",
})


def triage_verdict(verdict: str | None) -> TriageVerdict:
    """The list's verdict for an investigation verdict: `incomplete` (key sources missing) and none are
    "not checked", because nothing can be ruled out for them."""
    if verdict == "compromised":
        return TriageVerdict.compromised
    if verdict == "suspicious":
        return TriageVerdict.suspicious
    if verdict == "no_signs":
        return TriageVerdict.no_signs
    return TriageVerdict.not_checked


@dataclass(frozen=True)
class TriageRow:
    """One restricted account on the list.

    `reason_code` is the verdict's reason (catalog `reason.<code>` with `reason_params`); without one the row
    shows `note_key` (our words, e.g. why it was not checked) or Microsoft's `restriction` reason. `account_id`
    is empty when no account sends as the restricted address; `case_id` is the account's active case.
    """

    account_id: str
    name: str
    upn: str
    verdict: TriageVerdict
    since: datetime | None = None
    reason_code: str | None = None
    reason_params: Mapping[str, str] = field(default_factory=dict, hash=False)
    restriction: RestrictionReason | None = None
    note_key: str | None = None
    pending: bool = False
    case_id: str | None = None
    # When the block lifts by itself (`investigation.resume`), if that is still ahead; None: it does not, or unknown.
    lifts_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason_params", MappingProxyType(dict(self.reason_params)))


BulkStatus = Literal["unblocked", "skipped", "failed"]


@dataclass(frozen=True)
class BulkOutcome:
    """What the bulk unblock did to one account: `reason` (our words) says why it failed; `actor` and `at` who
    unblocked a skipped one before."""

    name: str
    upn: str
    status: BulkStatus
    reason: str = ""
    actor: str = ""
    at: datetime | None = None


def ordered(rows: Sequence[TriageRow]) -> list[TriageRow]:
    """Worst first (compromised, suspicious, not checked, no signs), then the longest restricted first; an
    unknown start goes last in its group; then by name, so the order is stable."""
    return sorted(rows, key=lambda r: (_RANK[r.verdict], r.since is None, r.since or _EARLIEST,
                                       r.name.casefold(), r.upn.casefold(), r.account_id))


def page_count(total: int) -> int:
    """How many pages `total` rows fill (at least one, for the empty list)."""
    return max(1, -(-total // PAGE_SIZE))


def clamp_page(page: int, total: int) -> int:
    """`page` within the list as it is now (it may have shrunk since the card was drawn)."""
    return min(max(page, 0), page_count(total) - 1)


def _name(row: TriageRow) -> str:
    return row.name.strip() or row.upn


@dataclass(frozen=True)
class _Limits:
    """How much tenant text one line may take (`reason` 0: no reason line) and how many lines a list names."""

    name: int = NAME_LIMIT
    reason: int = REASON_LIMIT
    lines: int = MAX_CONFIRM_LINES


# Tried in order until the card fits a Teams message: tenant names are usually short, but a page of hostile
# ones (non-ASCII text is escaped in the JSON, up to 12 bytes a character) must still fit.
_STEPS = (_Limits(), _Limits(40, 80, 60), _Limits(24, 0, 40), _Limits(16, 0, 25))


def _fit(build: Callable[[_Limits], JsonDict]) -> JsonDict:
    """The first of `build(limits)` over `_STEPS` that fits `CARD_BUDGET` (the last one regardless)."""
    card: JsonDict = {}
    for limits in _STEPS:
        card = build(limits)
        if len(json.dumps(card)) <= CARD_BUDGET:
            break
    return card


def _row(row: TriageRow, locale: str | None, time_zone: str | None, limits: _Limits, *,
         may_unblock: bool, page: int = 0) -> Container:
    head: list[TextRun] = [text_run(clean(_name(row), limits.name) or "—", weight="Bolder")]
    if row.upn and row.upn != _name(row):
        head.append(text_run("  " + clean(row.upn, limits.name), subtle=True))
    status: list[TextRun] = [text_run(t(locale, f"triage.verdict.{row.verdict.value}"), weight="Bolder")]
    if row.since is not None:
        status.append(text_run(t(locale, "triage.since", since=format_datetime(row.since, locale, time_zone))))
    else:
        status.append(text_run(t(locale, "triage.since_unknown")))
    if row.pending:
        status.append(text_run(t(locale, "triage.pending"), weight="Bolder"))
    items: list[CardElement] = [rich(head), rich(status, spacing="None")]
    if row.lifts_at is not None and not row.pending:
        items.append(rich([text_run(t(locale, "triage.lifts", time=format_datetime(row.lifts_at, locale, time_zone)))],
                          spacing="None"))
    reason = _reason(row, locale, time_zone, limits.reason) if limits.reason else []
    if reason:
        items.append(rich(reason, spacing="None"))
    buttons = row_actions(row, locale, may_unblock=may_unblock, page=page)
    if buttons:
        items.append(ActionSet(actions=buttons, spacing="Small"))
    return Container(items=items, style=_STYLES[row.verdict], separator=True, spacing="Small")


def row_actions(row: TriageRow, locale: str | None, *, may_unblock: bool, page: int = 0) -> list[Action]:
    """A row's buttons: "Open" (the account's findings card, `show_case`, with the list's `page` so the card can
    offer "Back to the list") when the account has a case, and "Unblock" (the single unblock, `unblock`, which
    confirms first) when `may_unblock` (the caller decided: a no-signs row a security admin may act on). Their data
    is the verb, the case id and the page only."""
    if not row.case_id:
        return []
    actions: list[Action] = [no_inputs(execute(t(locale, "triage.button.open"), Verb.SHOW_CASE,
                                               case_id=row.case_id, ids={"page": str(page)}))]
    if may_unblock and row.verdict == TriageVerdict.no_signs and not row.pending:
        actions.append(no_inputs(execute(t(locale, "triage.button.unblock"), Verb.UNBLOCK, case_id=row.case_id,
                                         style="positive")))
    return actions


def _reason(row: TriageRow, locale: str | None, time_zone: str | None, limit: int) -> list[TextRun]:
    if row.reason_code:
        params = {name: display_value(name, value, locale, time_zone) for name, value in row.reason_params.items()}
        return template_runs(locale, f"reason.{row.reason_code}", params, limit=limit, subtle=True)
    if row.note_key:
        return [text_run(t(locale, row.note_key), subtle=True)]
    if row.restriction is not None:
        return restriction_reason_runs(row.restriction, locale)
    return []


def _counts(rows: Sequence[TriageRow]) -> dict[str, int]:
    return {v.value: sum(1 for r in rows if r.verdict == v) for v in TriageVerdict}


def triage_card(rows: Sequence[TriageRow], *, page: int, locale: str | None, time_zone: str | None = None,
                bulk_count: int | None = None, own_left_out: bool = False,
                notice_key: str | None = None, unblockable: Collection[str] = (),
                bulk_lifting: int = 0) -> JsonDict:
    """Page `page` (0-based, clamped) of the restricted accounts, worst first.

    `bulk_count` is None for a viewer who may not unblock (IT staff: a note says who can); otherwise the number
    of accounts "Unblock all with no signs of compromise" would unblock (no button when 0), `bulk_lifting` of
    them lift by themselves (the button says so). `own_left_out` says the viewer's own restricted account is not
    among them. `notice_key` is a banner of our words on top. `unblockable`: the case ids whose row gets its own
    "Unblock" button (the caller decides who may; every row with a case gets "Open").
    """
    everything = ordered(rows)
    page = clamp_page(page, len(everything))
    pages = page_count(len(everything))
    shown = everything[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]

    def build(limits: _Limits) -> JsonDict:
        body: list[CardElement] = [heading(t(locale, "triage.title", count=len(everything)), size="Medium")]
        if notice_key:
            body.append(Container(items=[para(t(locale, notice_key))], style="warning"))
        if not everything:
            body.append(para(t(locale, "triage.empty")))
        else:
            body.append(para(t(locale, "triage.summary", **_counts(everything)), subtle=True, spacing="Small"))
            body.extend(_row(row, locale, time_zone, limits, may_unblock=row.case_id in unblockable, page=page)
                        for row in shown)
            if pages > 1:
                body.append(para(t(locale, "triage.page", page=page + 1, pages=pages), subtle=True,
                                 spacing="Medium"))
        if bulk_count is None:
            if everything:
                body.append(para(t(locale, "triage.staff_note"), subtle=True, spacing="Medium"))
        elif own_left_out:
            body.append(para(t(locale, "triage.own_left_out"), subtle=True, spacing="Medium"))
        actions: list[Action] = []
        if page > 0:
            actions.append(no_inputs(execute(t(locale, "triage.button.previous"), Verb.TRIAGE_PAGE,
                                             ids={"page": str(page - 1)})))
        if page + 1 < pages:
            actions.append(no_inputs(execute(t(locale, "triage.button.next"), Verb.TRIAGE_PAGE,
                                             ids={"page": str(page + 1)})))
        if bulk_count:
            title = t(locale, "triage.button.unblock_all_lifting", count=bulk_count, lifting=bulk_lifting) if (
                bulk_lifting) else t(locale, "triage.button.unblock_all", count=bulk_count)
            actions.append(no_inputs(execute(title, Verb.TRIAGE_UNBLOCK, style="positive")))
        return envelope(body, actions, fallback_text=t(locale, "triage.fallback", count=len(everything)))

    return _fit(build)


def triage_progress_card(count: int | None, locale: str | None) -> JsonDict:
    """"Checking N restricted accounts…" while they are investigated (the list replaces it); without a count
    while the restriction list itself is still being read."""
    title = t(locale, "triage.progress.title", count=count) if count is not None else t(
        locale, "triage.progress.title_any")
    body = [
        TextBlock(text=title, weight="Bolder", size="Medium", wrap=True),
        para(t(locale, "triage.progress.sources"), subtle=True, spacing="Small"),
    ]
    return envelope(body, fallback_text=title)


def triage_unreachable_card(locale: str | None) -> JsonDict:
    """What replaces the progress card when Microsoft 365 could not be read."""
    text = t(locale, "triage.unreachable")
    return envelope([para(text)], fallback_text=text)


def _account_line(name: str, upn: str, limit: int) -> list[TextRun]:
    runs = [text_run(clean(name.strip() or upn, limit) or "—", weight="Bolder")]
    if upn and upn != name.strip():
        runs.append(text_run("  " + clean(upn, limit), subtle=True))
    return runs


# Confirm's `scope` for "leave the blocks that lift by themselves"; without it, every listed account.
SCOPE_REST = "rest"


def bulk_confirmation_card(rows: Sequence[TriageRow], *, list_id: str, shown_at: str, locale: str | None,
                           own_left_out: bool = False, notice_key: str | None = None,
                           rest_list_id: str | None = None, time_zone: str | None = None) -> JsonDict:
    """"Unblock these N accounts?", naming each (up to `MAX_CONFIRM_LINES`, fewer if their names are long;
    the rest are counted).

    Accounts whose block lifts by itself (`TriageRow.lifts_at`) are named apart with the time, and the card
    suggests leaving them: its first button unblocks only the others (`scope` "rest", fingerprint `rest_list_id`),
    the second all of them (no `scope`, fingerprint `list_id`). Without such accounts there is one Confirm.
    Confirm repeats `triage_unblock` with `confirm`, the fingerprint, the scope and `shown_at` (when the list was
    drawn), so the server can tell whether the list changed before it acts; Cancel shows the list again.
    """
    everything = ordered(rows)
    lifting = [row for row in everything if row.lifts_at is not None]
    others = [row for row in everything if row.lifts_at is None]
    if not everything:
        body: list[CardElement] = [heading(t(locale, "triage.confirm.title", count=0), size="Medium")]
        if notice_key:
            body.append(Container(items=[para(t(locale, notice_key))], style="warning"))
        body.append(para(t(locale, "triage.confirm.none")))
        back = no_inputs(execute(t(locale, "triage.button.back"), Verb.TRIAGE_PAGE, ids={"page": "0"}))
        return envelope(body, [back], fallback_text=t(locale, "triage.confirm.none"))

    def build(limits: _Limits) -> JsonDict:
        body: list[CardElement] = [heading(t(locale, "triage.confirm.title", count=len(everything)), size="Medium")]
        if notice_key:
            body.append(Container(items=[para(t(locale, notice_key))], style="warning"))
        body.append(para(t(locale, "triage.confirm.body"), spacing="Small"))
        body.extend(rich(_account_line(row.name, row.upn, limits.name), spacing="Small")
                    for row in others[:limits.lines])
        if len(others) > limits.lines:
            body.append(para(t(locale, "triage.confirm.more", count=len(others) - limits.lines), subtle=True))
        if lifting:
            # An unblock spends one of the few Microsoft allows per account; these blocks end anyway.
            items: list[CardElement] = [para(t(locale, "triage.confirm.lifting", count=len(lifting)))]
            for row in lifting[:limits.lines]:
                when = format_datetime(row.lifts_at, locale, time_zone)
                items.append(rich([*_account_line(row.name, row.upn, limits.name),
                                   text_run(t(locale, "triage.confirm.lifts_at", time=when))], spacing="Small"))
            if len(lifting) > limits.lines:
                items.append(para(t(locale, "triage.confirm.more", count=len(lifting) - limits.lines),
                                  subtle=True))
            body.append(Container(items=items, style="emphasis", spacing="Medium"))
        if own_left_out:
            body.append(para(t(locale, "triage.own_left_out"), subtle=True, spacing="Medium"))
        actions: list[Action] = []
        if lifting and others and rest_list_id:
            actions.append(no_inputs(execute(
                t(locale, "triage.confirm.button_rest", count=len(others), lifting=len(lifting)),
                Verb.TRIAGE_UNBLOCK, ids={"confirm": "1", "list": rest_list_id, "scope": SCOPE_REST, "at": shown_at},
                style="positive")))
        key = "triage.confirm.button_all" if lifting else "triage.confirm.button"
        actions.append(no_inputs(execute(
            t(locale, key, count=len(everything)), Verb.TRIAGE_UNBLOCK,
            ids={"confirm": "1", "list": list_id, "at": shown_at},
            style=None if lifting else "positive")))
        actions.append(no_inputs(execute(t(locale, "triage.confirm.cancel"), Verb.TRIAGE_PAGE, ids={"page": "0"})))
        return envelope(body, actions,
                        fallback_text=t(locale, "triage.confirm.title", count=len(everything)))

    return _fit(build)


_RESULT_ORDER: Mapping[str, int] = MappingProxyType({"failed": 0, "skipped": 1, "unblocked": 2})


def bulk_result_card(outcomes: Sequence[BulkOutcome], *, locale: str | None,
                     time_zone: str | None = None) -> JsonDict:
    """The bulk unblock's result, one line per account: failed (why) first, then skipped (by whom), then
    unblocked (pending). Past `MAX_CONFIRM_LINES` (fewer if names are long) the rest are counted."""
    counts = {status: sum(1 for o in outcomes if o.status == status) for status in ("unblocked", "skipped", "failed")}
    listed = sorted(outcomes, key=lambda o: _RESULT_ORDER[o.status])

    def line(outcome: BulkOutcome, limits: _Limits) -> Container:
        if outcome.status == "skipped" and outcome.actor and outcome.at is not None:
            # The actor's name is tenant text: a run of its own, between the catalog's runs.
            runs = template_runs(locale, "triage.result.skipped",
                                 {"actor": outcome.actor, "time": format_datetime(outcome.at, locale, time_zone)},
                                 limit=limits.name)
        else:
            if outcome.status == "unblocked":
                text = t(locale, "triage.result.unblocked")
            elif outcome.status == "skipped":
                text = t(locale, "triage.result.skipped_unknown")
            else:
                text = t(locale, "triage.result.failed", reason=outcome.reason)
            # Our words carry the status, in the default colour (green and red text miss WCAG AA in a theme).
            runs = [text_run(text, weight="Bolder" if outcome.status == "failed" else None)]
        return Container(items=[rich(_account_line(outcome.name, outcome.upn, limits.name)),
                                rich(runs, spacing="None")], separator=True, spacing="Small")

    def build(limits: _Limits) -> JsonDict:
        body: list[CardElement] = [heading(t(locale, "triage.result.title", **counts), size="Medium")]
        body.extend(line(outcome, limits) for outcome in listed[:limits.lines])
        if len(listed) > limits.lines:
            body.append(para(t(locale, "triage.confirm.more", count=len(listed) - limits.lines), subtle=True))
        back = no_inputs(execute(t(locale, "triage.button.back"), Verb.TRIAGE_PAGE, ids={"page": "0"}))
        return envelope(body, [back], fallback_text=t(locale, "triage.result.title", **counts))

    return _fit(build)


def with_back_to_list(card: JsonDict, *, page: int, locale: str | None) -> JsonDict:
    """`card` (a case's findings card opened from a triage row) with "Back to the list" (that page of the list)
    added to its buttons; the card itself is not changed."""
    back = no_inputs(execute(t(locale, "triage.button.back"), Verb.TRIAGE_PAGE, ids={"page": str(page)}))
    return {**card, "actions": [*card.get("actions", []), back.model_dump(by_alias=True, exclude_none=True)]}
