"""A throwaway Bot Framework bot for exploring and testing the Agents Playground without the real bot.

Run: `python -m tests.e2e.echo_bot` with `PORT`, `HOST` and optionally `ECHO_CAPTURE` (a JSON-lines file that
records every activity received). Mentions (`<at>…</at>`) are stripped before the text is read. It answers

- `card`: an Adaptive Card "Echo card" with a FactSet, an Input.Text `note` and two `Action.Execute` buttons,
  "Press me" (verb `press`) and "Fail" (verb `fail`);
- `locale`: `locale: <activity.locale>`; `whoami`: `from: <from.id> <from.aadObjectId>`;
- `proactive`: a reply, then 1 s later, outside the turn, a new message "proactive hello" to the same conversation;
- `update`: "before update", then 1 s later a PUT replacing that message with "after update";
- `alert <channel id>`: "alert scheduled", then 1 s later a new channel post "alert for <channel id>" made with
  `POST /v3/conversations` (how a bot starts a thread in a channel, e.g. the IT alert);
- anything else: `echo: <text>`;
- `adaptiveCard/action` invokes: `press` → HTTP 200 with a new card "Card pressed <n> times" (the invoke response
  body Teams expects); `fail` → an `application/vnd.microsoft.error` response with statusCode 400.

`GET /readyz` answers 200 like the real bot's, so the harness treats both the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import ClientSession, web

CAPTURE = web.AppKey("capture", str)
SESSION = web.AppKey("session", ClientSession)
TASKS = web.AppKey("tasks", set)
MENTION = re.compile(r"<at>.*?</at>", re.S)


def echo_card(title: str, presses: int = 0) -> dict[str, Any]:
    """An Adaptive Card 1.4 with a FactSet, a text input and two `Action.Execute` buttons."""
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "TextBlock", "text": f"Pressed {presses} times", "wrap": True},
            {"type": "FactSet", "facts": [{"title": "Presses", "value": str(presses)}]},
            {"type": "Input.Text", "id": "note", "label": "Note", "placeholder": "Say something"},
        ],
        "actions": [
            {"type": "Action.Execute", "title": "Press me", "verb": "press", "data": {"presses": presses}},
            {"type": "Action.Execute", "title": "Fail", "verb": "fail", "data": {"presses": presses}},
        ],
    }


def _reply(activity: dict[str, Any], **fields: Any) -> dict[str, Any]:
    reply = {
        "type": "message",
        "from": activity.get("recipient"),
        "recipient": activity.get("from"),
        "conversation": activity.get("conversation"),
        "replyToId": activity.get("id"),
        **fields,
    }
    return {key: value for key, value in reply.items() if value is not None}  # the Playground rejects nulls


async def _call(app: web.Application, method: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with app[SESSION].request(method, url, json=body) as response:
        text = await response.text()
        return json.loads(text) if text else {}


def _conversation_url(activity: dict[str, Any]) -> str:
    base = activity["serviceUrl"].rstrip("/")
    return f"{base}/v3/conversations/{activity['conversation']['id']}/activities"


async def _later(app: web.Application, activity: dict[str, Any], update_id: str | None) -> None:
    await asyncio.sleep(1)
    if update_id is None:  # proactive: a new message, not a reply
        await _call(app, "POST", _conversation_url(activity), _reply(activity, text="proactive hello", replyToId=None))
    else:
        await _call(app, "PUT", f"{_conversation_url(activity)}/{update_id}",
                    _reply(activity, id=update_id, text="after update"))


async def _alert(app: web.Application, activity: dict[str, Any], channel_id: str) -> None:
    await asyncio.sleep(1)
    base = activity["serviceUrl"].rstrip("/")
    tenant = ((activity.get("channelData") or {}).get("tenant") or {}).get("id")
    await _call(app, "POST", f"{base}/v3/conversations", {
        "isGroup": True,
        "bot": activity.get("recipient"),
        "tenantId": tenant,
        "channelData": {"channel": {"id": channel_id}, "tenant": {"id": tenant}},
        "activity": {"type": "message", "text": f"alert for {channel_id}"},
    })


async def _on_invoke(activity: dict[str, Any]) -> web.Response:
    if activity.get("name") != "adaptiveCard/action":
        return web.json_response({"status": 200})
    action = (activity.get("value") or {}).get("action") or {}
    if action.get("verb") == "fail":
        return web.json_response({"statusCode": 400, "type": "application/vnd.microsoft.error",
                                  "value": {"code": "BadRequest", "message": "echo bot refuses"}})
    presses = int((action.get("data") or {}).get("presses", 0)) + 1
    return web.json_response({"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive",
                              "value": echo_card(f"Card pressed {presses} times", presses)})


async def messages(request: web.Request) -> web.Response:
    """POST /api/messages: record the activity, answer it."""
    app = request.app
    activity = await request.json()
    with open(app[CAPTURE], "a", encoding="utf-8") as capture:  # noqa: ASYNC230 - a test tool, tiny writes
        capture.write(json.dumps(activity) + "\n")
    if activity.get("type") == "invoke":
        return await _on_invoke(activity)
    if activity.get("type") != "message":
        return web.Response(status=200)
    text = MENTION.sub("", activity.get("text") or "").strip()
    url = f"{_conversation_url(activity)}/{activity.get('id', '')}"
    command = text.lower()
    if command == "card":
        card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": echo_card("Echo card")}
        await _call(app, "POST", url, _reply(activity, attachments=[card]))
    elif command == "update":
        sent = await _call(app, "POST", url, _reply(activity, text="before update"))
        _spawn(app, _later(app, activity, str(sent.get("id", ""))))
    elif command.startswith("alert "):
        await _call(app, "POST", url, _reply(activity, text="alert scheduled"))
        _spawn(app, _alert(app, activity, text.split(maxsplit=1)[1]))
    elif command == "locale":
        await _call(app, "POST", url, _reply(activity, text=f"locale: {activity.get('locale')}"))
    elif command == "whoami":
        sender = activity.get("from") or {}
        await _call(app, "POST", url, _reply(activity, text=f"from: {sender.get('id')} {sender.get('aadObjectId')}"))
    else:
        await _call(app, "POST", url, _reply(activity, text=f"echo: {text}"))
        if command == "proactive":
            _spawn(app, _later(app, activity, None))
    return web.Response(status=200)


def _spawn(app: web.Application, coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: always ready."""
    return web.json_response({"status": "ready"})


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = ClientSession()
    app[TASKS] = set()
    yield
    for task in list(app[TASKS]):
        task.cancel()
    await app[SESSION].close()


def create_app(capture: str) -> web.Application:
    """The echo bot application; every received activity is appended to `capture` as one JSON line."""
    app = web.Application()
    app[CAPTURE] = capture
    app.cleanup_ctx.append(_lifespan)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> int:
    """Serve on HOST:PORT."""
    capture = os.environ.get("ECHO_CAPTURE", os.devnull)
    web.run_app(create_app(capture), host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ["PORT"]),
                print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
