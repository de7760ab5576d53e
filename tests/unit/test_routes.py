"""The one verb table (`teams/routes.py`) and the one invoke-response helper (`teams/invoke.py`).

Reading the table tells where every button goes; these tests hold it to that: every verb has exactly the handler
the findings, triage, help and report cards expect, a verb without a row stops the table from being built, and
each kind of core `Answer` reaches Teams as the invoke response the Agents SDK serialises (once, camelCase).
"""

from __future__ import annotations

from typing import Any

import pytest

from cards.verbs import Verb
from core.presses import Answer, AnswerKind, Press
from dialogs.intents import Intent
from domain.people import Role, Speaker
from remediation.actions import ACTIONS
from teams.invoke import body_of, invoke_response
from teams.routes import StartDialog, build_routes


class _Presses:
    async def press(self, press: Press) -> Answer:
        return Answer.message("press")


class _Triage:
    async def page(self, press: Press) -> Answer:
        return Answer.message("page")

    async def unblock(self, press: Press) -> Answer:
        return Answer.message("unblock")


async def _send_note(press: Press) -> Answer:
    return Answer.message("note")


async def _export_report(press: Press) -> Answer:
    return Answer.message("export")


def speaker(role: Role) -> Speaker:
    return Speaker(aad_object_id="a", name="A", tenant_id="t", role=role)


def table() -> tuple[Any, Any, Any]:
    presses, triage = _Presses(), _Triage()
    return (build_routes(presses=presses, triage=triage, send_note=_send_note,  # type: ignore[arg-type]
                         export_report=_export_report), presses, triage)


def test_every_verb_has_its_handler() -> None:
    routes, presses, triage = table()
    assert set(routes) == set(Verb)
    for verb in [*ACTIONS, Verb.SHOW_CASE, Verb.REFRESH]:
        assert routes[verb] == presses.press, verb
    assert routes[Verb.TRIAGE_PAGE] == triage.page and routes[Verb.TRIAGE_UNBLOCK] == triage.unblock
    assert routes[Verb.SEND_NOTE] is _send_note
    assert routes[Verb.EXPORT_REPORT] is _export_report


def test_buttons_that_start_a_flow_are_gated_as_the_typed_phrase() -> None:
    routes, _, _ = table()
    starts = {verb: route for verb, route in routes.items() if isinstance(route, StartDialog)}
    assert {verb: route.intent for verb, route in starts.items()} == {
        Verb.START_INVESTIGATION: Intent.INVESTIGATE, Verb.TRIAGE: Intent.TRIAGE,
        Verb.REPORT_BOUNCE: Intent.REPORT_BOUNCE, Verb.NOTIFY_IT: Intent.NOTIFY_IT, Verb.HELP: Intent.HELP}
    user, staff = speaker(Role.USER), speaker(Role.IT_STAFF)
    for verb in (Verb.START_INVESTIGATION, Verb.TRIAGE):
        assert not starts[verb].allowed(user) and starts[verb].allowed(staff) and starts[verb].refusal_key
    # Anyone may say their mail bounces or ask IT to look.
    assert starts[Verb.REPORT_BOUNCE].allowed(user) and starts[Verb.NOTIFY_IT].allowed(user)


def test_a_verb_without_a_row_stops_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("teams.routes.ACTIONS", {})
    with pytest.raises(ValueError, match="unblock"):
        table()


def test_answers_become_invoke_responses_that_serialise() -> None:
    card = {"type": "AdaptiveCard", "version": "1.5", "body": []}
    assert body_of(invoke_response(Answer.card(card))) == {
        "statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": card}
    # A message response's `value` is text, not an object.
    assert body_of(invoke_response(Answer.message("Done."))) == {
        "statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "Done."}
    assert body_of(invoke_response(Answer.error(409, "Conflict", "nobody"))) == {
        "statusCode": 409, "type": "application/vnd.microsoft.error",
        "value": {"code": "Conflict", "message": "nobody"}}


def test_a_press_knows_its_chat_from_the_stored_reference() -> None:
    press = Press(Verb.UNBLOCK, {}, speaker(Role.SECURITY_ADMIN),
                  conversation={"conversation": {"id": "19:chat"}, "serviceUrl": "https://x/"}, reply_to="7")
    assert press.conversation_id == "19:chat"
    assert Press(Verb.UNBLOCK, {}, speaker(Role.USER)).conversation_id is None
    assert Press(Verb.UNBLOCK, {}, speaker(Role.USER), conversation={"conversation": {"id": ""}}).conversation_id \
        is None
    assert Answer.message("x").kind == AnswerKind.MESSAGE
