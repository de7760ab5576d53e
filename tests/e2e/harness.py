"""End-to-end harness: the bot, the Microsoft 365 Agents Playground and headless Chromium, driven like a person.

- `start_bot(tmp_path, env_overrides)` runs `bot.py` in demo mode (or the throwaway echo bot) on a free port and
  waits for `GET /readyz` 200;
- `start_playground(bot_url, config_path)` runs the Playground (npm `@microsoft/m365agentsplayground`) against it,
  optionally behind `locale_proxy` so that a Dutch journey can be typed;
- `open_playground(url, user_data_dir)` opens its web UI in headless Chromium and yields a `PlaygroundPage`:
  open a chat or channel, type, click card buttons, read rendered Adaptive Cards, take screenshots.

Every wait is bounded; every process is started in its own process group and the whole group is stopped at
teardown (see docs/E2E.md for what the Playground does and does not do).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Locator, Page, async_playwright

from config import IDENTITY_ENV_NAMES
from locales import t

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND_CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
DEFAULT_CONFIG = ROOT / ".m365agentsplayground.yml"
PLAYGROUND_CONFIGS = {
    "alex": DEFAULT_CONFIG,
    "isaiah": ROOT / "playground" / "isaiah.m365agentsplayground.yml",
    "megan": ROOT / "playground" / "megan.m365agentsplayground.yml",
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-proxy-server",  # only loopback is ever reached; a CI proxy from the environment must not get in between
    # The UI asks a CDN for fonts and an animation worklet: fail those at once instead of waiting for DNS.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
UI_TIMEOUT = 15.0  # seconds, for any single wait in the UI
BOT_READY_TIMEOUT = 60.0
PLAYGROUND_READY_TIMEOUT = 30.0

# Settings the bot would otherwise take from a developer's `.env`: real environment variables win over `.env`,
# so setting them empty keeps e2e runs on the embedded demo tenant with an anonymous bot.
DEMO_ENV = {
    name: ""
    for name in (
        *IDENTITY_ENV_NAMES, "M365_TENANT_ID", "M365_CLIENT_ID",
        "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "M365_CA_FILE", "IT_STAFF_GROUP_ID",
        "SECURITY_ADMIN_GROUP_ID", "DATABASE_URL", "DEMO_TENANT_SEED",
    )
} | {"DEMO_TENANT_PORT": "0", "LOG_LEVEL": "INFO"}

BotKind = Literal["real", "echo"]
# The journeys run the real bot; the Playground-fact tests (test_playground.py) use the echo bot.
DEFAULT_BOT: BotKind = "real"
ConversationKind = Literal["personal", "group", "channel"]

CARD = ".ac-adaptiveCard"
# The note shown under a card after a press sits next to the card's wrapper; an error note has no aria-label,
# both have the dismiss button.
INVOKE_NOTICE = "xpath=../../*[.//button[@aria-label='Dismiss Invoke Message']]"
CHAT_MESSAGE = "div:has(> [aria-label='Message header'])"


class HarnessError(RuntimeError):
    """A service did not start or a page did not get where it should; the message says why and where to look."""


def bot_kind() -> BotKind:
    """The bot the e2e tests run against: `$E2E_BOT` (`real` or `echo`), else `DEFAULT_BOT`."""
    kind = os.environ.get("E2E_BOT", DEFAULT_BOT)
    if kind == "real":
        return "real"
    if kind == "echo":
        return "echo"
    raise HarnessError(f"E2E_BOT must be 'real' or 'echo', not {kind!r}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A child process in its own process group, its base URL and its log; `stop()` ends the group."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    capture_path: Path | None = None  # the echo bot's record of received activities (JSON lines)
    companions: list[Service] = field(default_factory=list)  # stopped after this one (e.g. the locale proxy)
    work_dir: Path | None = None  # removed at stop when the harness created it
    _log: Any = field(default=None, repr=False)

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def received_activities(self) -> list[dict[str, Any]]:
        """Activities the echo bot received so far (empty for the real bot)."""
        if self.capture_path is None or not self.capture_path.exists():
            return []
        return [json.loads(line) for line in self.capture_path.read_text().splitlines() if line.strip()]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after `timeout`, reap, close the log; idempotent."""
        _stop_group(self.process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        for companion in self.companions:
            companion.stop(timeout)
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers the leader left in its group


def _spawn(name: str, argv: list[str], *, env: Mapping[str, str], cwd: Path, log_path: Path, url: str,
           **extra: Any) -> Service:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # owned by the Service, closed in stop()
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        log.close()
        raise
    return Service(name=name, process=process, url=url, log_path=log_path, _log=log, **extra)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL of our own
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(service: Service, ready: Any, timeout: float, what: str) -> None:
    """Poll `ready()` until true; stop the service and raise with its log tail on exit or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            service.stop()
            raise HarnessError(f"{service.name} exited with {service.process.returncode} before {what};"
                               f" log {service.log_path}:\n{service.log_tail()}")
        if ready():
            return
        time.sleep(0.2)
    service.stop()
    raise HarnessError(f"{service.name}: no {what} within {timeout:.0f} s; log {service.log_path}:\n"
                       f"{service.log_tail()}")


def start_bot(tmp_path: Path, env_overrides: Mapping[str, str] | None = None, *, kind: BotKind = "real",
              timeout: float = BOT_READY_TIMEOUT) -> Service:
    """Start the bot on a free loopback port with `DATA_DIR` in `tmp_path`; returns when `/readyz` answers 200.

    `kind="real"` runs `bot.py` in demo mode (no Microsoft 365 or Bot Framework credentials, whatever `.env`
    says); `kind="echo"` runs `tests/e2e/echo_bot.py`, which records what it receives in `capture_path`.
    The log goes to `tmp_path/<kind>-bot.log`.
    """
    port = free_port()
    data_dir = tmp_path / "bot-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **DEMO_ENV, "PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": str(data_dir),
           "PYTHONUNBUFFERED": "1"}
    extra: dict[str, Any] = {}
    if kind == "echo":
        extra["capture_path"] = tmp_path / "echo-activities.jsonl"
        env["ECHO_CAPTURE"] = str(extra["capture_path"])
        argv = [sys.executable, "-m", "tests.e2e.echo_bot"]
    else:
        argv = [sys.executable, str(ROOT / "bot.py")]
    env.update(env_overrides or {})
    url = f"http://127.0.0.1:{port}"
    service = _spawn(f"{kind} bot", argv, env=env, cwd=ROOT, log_path=tmp_path / f"{kind}-bot.log", url=url,
                     **extra)
    _wait_until(service, lambda: _http_ok(f"{url}/readyz"), timeout, "GET /readyz 200")
    return service


def start_locale_proxy(bot_url: str, locale: str, log_dir: Path) -> Service:
    """Start `locale_proxy` in front of `bot_url`: every activity reaching the bot says `locale`."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "TARGET": bot_url, "LOCALE": locale}
    service = _spawn("locale proxy", [sys.executable, "-m", "tests.e2e.locale_proxy"], env=env, cwd=ROOT,
                     log_path=log_dir / f"locale-proxy-{port}.log", url=f"http://127.0.0.1:{port}")
    _wait_until(service, lambda: _port_open(port), 15.0, "listening port")
    return service


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_playground(bot_url: str, config_path: Path | str = DEFAULT_CONFIG, *, work_dir: Path | None = None,
                     locale: str | None = None, personal_chat_id: str | None = None,
                     timeout: float = PLAYGROUND_READY_TIMEOUT) -> Service:
    """Start the Agents Playground for the bot at `bot_url` (its base URL) on a free port; returns when it serves.

    `config_path` picks the people and conversations (and so the current user). The Playground writes its log
    (`devTools/m365agentsplayground.log`) under `work_dir` (default: a temporary directory removed at stop).
    `locale`, e.g. "nl-NL", puts `locale_proxy` between the Playground and the bot. `personal_chat_id` gives the
    personal chat another conversation id (via a copy of the configuration: the CLI's `--conversation-id` is
    ignored when a configuration file is used); two Playgrounds on one bot need this, as every configuration
    here says `personal-chat-id` and the bot keeps dialog state per conversation.
    """
    if not PLAYGROUND_CLI.is_file():
        raise HarnessError(f"the Agents Playground is not installed ({PLAYGROUND_CLI}): run tools/install_e2e.sh")
    config = Path(config_path).resolve()
    owned_dir = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="e2e-playground-")) if work_dir is None else work_dir
    work.mkdir(parents=True, exist_ok=True)
    if personal_chat_id:
        config = with_personal_chat_id(config, personal_chat_id, work)
    companions = [start_locale_proxy(bot_url, locale, work)] if locale else []
    endpoint = f"{(companions[0].url if companions else bot_url).rstrip('/')}/api/messages"
    try:
        service = _start_playground_process(endpoint, config, work, timeout)
    except BaseException:
        for companion in companions:
            companion.stop()
        if owned_dir:
            shutil.rmtree(work, ignore_errors=True)
        raise
    service.companions = companions
    service.work_dir = work if owned_dir else None
    return service


def with_personal_chat_id(config: Path, chat_id: str, work: Path) -> Path:
    """A copy of the Playground configuration `config` in `work` whose personal chat has the id `chat_id`."""
    text, count = re.subn(r"(?m)^(personalChat:\s*\n\s+id:\s*)\S+", lambda m: m.group(1) + chat_id,
                          config.read_text())
    if count != 1:
        raise HarnessError(f"{config}: no 'personalChat: id:' to replace")
    copy = work / f"{config.stem}.{chat_id}.yml"
    copy.write_text(text)
    return copy


def _start_playground_process(endpoint: str, config: Path, work: Path, timeout: float) -> Service:
    for _attempt in range(3):  # the CLI silently moves to a random port when ours was taken meanwhile
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TEAMSAPPTESTER_BROWSER": "none", "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(config),
               "M365_AGENTS_PLAYGROUND_LOGFILE": str(work / f"playground-{port}.internal.log")}
        for name in ("NO_PROXY", "no_proxy"):  # it honours HTTP(S)_PROXY for the bot endpoint otherwise
            env[name] = ",".join(filter(None, [os.environ.get(name, ""), "127.0.0.1", "localhost"]))
        argv = ["node", str(PLAYGROUND_CLI), "start", "-e", endpoint, "-c", "msteams", "-p", str(port),
                "--su", f"{url}/_connector", "--dt"]
        service = _spawn("playground", argv, env=env, cwd=work, log_path=work / f"playground-{port}.log", url=url)
        _wait_until(service, lambda s=service: "Listening on" in s.log_tail(5), timeout, "'Listening on'")
        listening = re.search(r"Listening on (\d+)", service.log_tail(20))
        if listening is None or int(listening.group(1)) != port:
            service.stop()
            continue
        _wait_until(service, lambda u=url: _http_ok(f"{u}/"), timeout, "GET / 200")
        return service
    raise HarnessError("the playground kept starting on another port than the one asked for")


def catalog_title(key: str, locale: str = "en") -> re.Pattern[str]:
    """A pattern for the catalog text `key` with any count in it, in both its forms ("Show all steps (12)" and
    the singular "Show the step (1)"): for a toggle whose title counts what it opens."""
    forms = {t(locale, key, count=_COUNT_SENTINEL).replace(str(_COUNT_SENTINEL), "{count}"),
             t(locale, key, count=1).replace("1", "{count}")}
    return re.compile("^(?:" + "|".join(re.escape(form).replace(re.escape("{count}"), r"\d[\d,.]*")
                                        for form in sorted(forms)) + ")$")


_COUNT_SENTINEL = 424242


def screenshots_dir(default: Path) -> Path:
    """Where `PlaygroundPage.screenshot` saves: `$E2E_SCREENSHOTS_DIR`, else `default`."""
    configured = os.environ.get("E2E_SCREENSHOTS_DIR")
    path = Path(configured) if configured else default
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.asynccontextmanager
async def open_playground(url: str, user_data_dir: Path, *, screenshots: Path | None = None,
                          show_log_panel: bool = False) -> AsyncIterator[PlaygroundPage]:
    """Headless Chromium (the Debian binary on PATH) with a fresh profile, on the Playground at `url`."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise HarnessError("chromium is not installed: run tools/install_e2e.sh")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900}, locale="en-US", timezone_id="UTC",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(UI_TIMEOUT * 1000)
            playground = await PlaygroundPage.open(page, url, screenshots or user_data_dir.parent / "screenshots",
                                                   show_log_panel=show_log_panel)
            yield playground
        finally:
            await context.close()


@dataclass
class InvokeResult:
    """What the bot answered to an `Action.Execute` press, as the Playground passed it to the UI."""

    type: str  # application/vnd.microsoft.card.adaptive | application/vnd.microsoft.activity.message | …error
    value: Any

    @property
    def is_card(self) -> bool:
        """The bot answered with a card that replaces the pressed one."""
        return self.type == "application/vnd.microsoft.card.adaptive"


class PlaygroundPage:
    """The Playground's web UI seen by a person: conversations on the left, messages in the middle."""

    def __init__(self, page: Page, url: str, screenshots: Path, config: dict[str, Any]) -> None:
        self.page = page
        self.url = url.rstrip("/")
        self.screenshots = screenshots
        self.config = config  # the Playground's resolved configuration (users, chats, team, channels)
        self.kind: ConversationKind | None = None
        self._pins = 0

    @classmethod
    async def open(cls, page: Page, url: str, screenshots: Path, *, show_log_panel: bool = False) -> PlaygroundPage:
        """Load the UI and wait until the conversation list is there (the log panel is hidden unless asked)."""
        response = await page.request.get(f"{url.rstrip('/')}/_internal/v1/config")
        try:
            config = (await response.json())["config"]
        finally:
            await response.dispose()
        await page.goto(url)
        await page.get_by_role("treeitem", name="Personal Chat").wait_for()
        if not show_log_panel:
            await page.get_by_role("button", name="Hide log panel").click()
        return cls(page, url, screenshots_dir(screenshots), config)

    # --- where we are -------------------------------------------------------------------------------------
    @property
    def bot_name(self) -> str:
        """The bot's display name from the configuration."""
        return str(self.config["bot"]["name"])

    @property
    def current_user(self) -> dict[str, Any]:
        """The configured current user (the one who types)."""
        return dict(self.config["currentUser"])

    @property
    def pane(self) -> Locator:
        """The conversation pane (messages and composer), without the conversation list and the log panel."""
        region = self.page.get_by_role("region", name="Chat and Teams Channel")
        return region.locator("xpath=../../following-sibling::div[1]")

    async def open_personal_chat(self) -> None:
        """Select the personal chat with the bot."""
        await self._select("Personal Chat", "personal")

    async def open_group_chat(self, name: str | None = None) -> None:
        """Select a group chat (default: the configured one); messages there reach the bot only with a mention."""
        await self._select(name or self.config["groupChats"][0]["name"], "group")

    async def open_channel(self, team: str | None = None, channel: str = "General") -> None:
        """Select a team channel, e.g. `open_channel("My Team", "Security")`."""
        team_name = team or self.config["teams"][0]["name"]
        await self._select(f"{team_name} - {channel}", "channel")

    async def _select(self, label: str, kind: ConversationKind) -> None:
        await self.page.get_by_role("treeitem", name=label, exact=True).click()
        self.kind = kind
        await self.composer.wait_for()

    @property
    def composer(self) -> Locator:
        """The box a new message is typed into (in a channel: "Start a new post")."""
        return self.pane.get_by_role("textbox").first

    # --- typing -------------------------------------------------------------------------------------------
    async def send(self, text: str, *, mention_bot: bool | None = None) -> None:
        """Type `text` and send it, as a person would.

        In a group chat or channel the bot only hears messages that @mention it, so by default the bot is
        mentioned there first (picked from the mention menu); in a channel the text starts a new post.
        """
        if self.kind is None:
            await self.open_personal_chat()
        mention = (self.kind != "personal") if mention_bot is None else mention_bot
        await self.composer.click()
        if mention:
            await self.page.keyboard.type("@" + self.bot_name[:5])
            await self.page.locator("#typeahead-menu [role=menuitem]").filter(has_text=self.bot_name).first.click()
            await self.page.keyboard.type(" ")
        await self.page.keyboard.type(text)
        if self.kind == "channel":
            await self.pane.get_by_role("button", name="Post", exact=True).click()
        else:
            await self.pane.get_by_role("button", name="Send Message").last.click()
        await self._wait_composer_empty()

    async def _wait_composer_empty(self) -> None:
        deadline = time.monotonic() + UI_TIMEOUT
        while (await self.composer.inner_text()).strip():
            if time.monotonic() > deadline:
                raise HarnessError("the message was not sent: the composer still holds text")
            await self.page.wait_for_timeout(50)

    # --- reading ------------------------------------------------------------------------------------------
    def messages(self) -> Locator:
        """Message bubbles of the open chat, oldest first (chats only; a channel has `posts()`)."""
        return self.pane.locator(CHAT_MESSAGE)

    def posts(self) -> Locator:
        """Posts of the open channel, newest first (each with its replies)."""
        return self.pane.get_by_role("group").filter(has_not=self.page.get_by_role("button", name="Post",
                                                                                    exact=True))

    async def wait_for_text(self, text: str, timeout: float = UI_TIMEOUT) -> Locator:  # noqa: ASYNC109
        """Wait until `text` is visible in the conversation pane (substring, case-insensitive); returns it."""
        found = self.pane.get_by_text(text).last
        await found.wait_for(state="visible", timeout=timeout * 1000)
        return found

    def cards(self) -> Locator:
        """Every rendered Adaptive Card in the conversation pane."""
        return self.pane.locator(CARD)

    def last_card(self) -> Locator:
        """The newest Adaptive Card: the last one in a chat; in a channel, the last one of the newest post."""
        if self.kind == "channel":
            return self.posts().first.locator(CARD).last
        return self.cards().last

    async def wait_for_card(self, text: str, timeout: float = UI_TIMEOUT) -> Locator:  # noqa: ASYNC109
        """Wait for a card showing `text` (e.g. its title); returns it pinned (see `pin`), the newest such card."""
        card = self.cards().filter(has_text=text).last
        await card.wait_for(state="visible", timeout=timeout * 1000)
        return await self.pin(card)

    async def pin(self, card: Locator) -> Locator:
        """A locator that keeps finding this card after a button press replaced its content or text.

        Plain locators are queries: `filter(has_text="Title")` stops matching once the card says something else,
        and `.last` moves when a newer card arrives. The card's container element survives the replacement
        (the UI keys it by message), so it is tagged once and found by the tag.
        """
        await card.wait_for(state="visible")
        self._pins += 1
        tag = await card.evaluate(
            """(card, tag) => {
                const box = card.parentElement.parentElement;
                if (!box.dataset.e2eCard) box.dataset.e2eCard = tag;
                return box.dataset.e2eCard;
            }""",
            str(self._pins),
        )
        return self.pane.locator(f"[data-e2e-card='{tag}'] {CARD}")

    async def card_texts(self, card: Locator) -> list[str]:
        """The visible texts of a card: text blocks, fact titles and values, input labels, button titles."""
        await card.wait_for(state="visible")
        texts: list[str] = await card.evaluate(
            """(card) => {
                const out = [];
                const walk = (node) => {
                    if (node.nodeType === Node.TEXT_NODE) {
                        const text = node.textContent.trim();
                        if (text) out.push(text);
                        return;
                    }
                    if (node.nodeType !== Node.ELEMENT_NODE) return;
                    const style = getComputedStyle(node);
                    if (style.display === 'none' || style.visibility === 'hidden') return;
                    node.childNodes.forEach(walk);
                };
                walk(card);
                return out;
            }"""
        )
        return texts

    async def card_notice(self, card: Locator) -> str:
        """The note under a card after a button press ("Your response was sent to the app", or the error)."""
        notice = card.locator(INVOKE_NOTICE)
        await notice.wait_for(state="visible")
        return (await notice.inner_text()).strip()

    # --- acting on cards ----------------------------------------------------------------------------------
    async def fill_card_input(self, card: Locator, label: str, value: str) -> None:
        """Type into a card's text input found by its label (typed key by key: the card reads keystrokes)."""
        card = await self.pin(card)
        notice = card.locator(INVOKE_NOTICE)
        if await notice.count():  # dismissing it later redraws the card, which would drop what is typed now
            await notice.get_by_role("button", name="Dismiss Invoke Message").click()
            await notice.wait_for(state="detached")
        field_ = card.get_by_label(label)
        await field_.click()
        await field_.press("Control+A")
        await field_.press_sequentially(value)

    async def expand(self, card: Locator, title: str | re.Pattern[str]) -> None:
        """Open a card's folded part ("Show all steps (12)"): press its `Action.ToggleVisibility` button, unless
        the part is open already (a second press folds it again).

        The Playground's renderer handles the toggle in the page (no invoke, no note under the card) and draws a
        hidden element not at all: the button's `aria-controls` names the targets, but nothing in the page says
        whether they are open, and the rendered elements do not carry the card's ids. So the press is judged by
        what the card shows: more text when it opened; less when it was open (then it is pressed once more). A
        card the bot replaced after a press is drawn anew, folded as its JSON says. `title` may be a pattern
        (`catalog_title`) for a title that counts what it opens.
        """
        button = card.get_by_role("button", name=title, exact=True) if isinstance(title, str) \
            else card.get_by_role("button", name=title)
        await button.wait_for(state="visible")
        if not (await button.get_attribute("aria-controls") or "").split():
            raise HarnessError(f"{title!r} is not a toggle: its button controls no element of the card")
        before = len(await self.card_texts(card))
        await button.click()
        after = await self._texts_changed(card, before)
        if after < before:  # it was open and is folded now: open it again
            await button.click()
            await self._texts_changed(card, after)

    async def _texts_changed(self, card: Locator, count: int) -> int:
        """Wait until the card shows another number of texts than `count` (a toggle redrew it); that number."""
        deadline = time.monotonic() + UI_TIMEOUT
        while (now := len(await self.card_texts(card))) == count:
            if time.monotonic() > deadline:
                raise HarnessError("pressing the toggle changed nothing on the card")
            await self.page.wait_for_timeout(50)
        return now

    async def click_card_button(self, card: Locator, title: str, timeout: float = UI_TIMEOUT,  # noqa: ASYNC109
                                *, index: int | None = None) -> InvokeResult:
        """Press a card button by its title and wait for the bot's invoke answer to be shown.

        For `Action.Execute` the Playground sends an `adaptiveCard/action` invoke; a card in the answer replaces
        the pressed card in place, a message or an error is shown under it. Pass a pinned card (`pin`,
        `wait_for_card`) to keep reading the same card afterwards.
        """
        card = await self.pin(card)
        button = card.get_by_role("button", name=title, exact=True)
        if index is not None:  # one of several buttons of that title (e.g. each triage row's "Open")
            button = button.nth(index)
        notice = card.locator(INVOKE_NOTICE)
        if await notice.count():  # dismiss the previous note, so the next one is this press's answer
            await notice.get_by_role("button", name="Dismiss Invoke Message").click()
            await notice.wait_for(state="detached")
        async with self.page.expect_response(lambda r: r.url.endswith("/_conversation/v1/invoke"),
                                             timeout=timeout * 1000) as answer:
            await button.click()
        response = await answer.value
        if response.status != 200:
            raise HarnessError(f"invoke failed with HTTP {response.status}: {await response.text()}")
        body = await response.json()
        result = InvokeResult(type=str(body.get("type", "")), value=body.get("value"))
        await notice.wait_for(state="visible", timeout=timeout * 1000)
        return result

    # --- evidence -----------------------------------------------------------------------------------------
    async def screenshot(self, name: str) -> Path:
        """Save a PNG of the page as `<screenshots dir>/<name>.png` and return its path."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "screenshot"
        path = self.screenshots / f"{safe}.png"
        await self.page.screenshot(path=str(path))
        return path

    async def send_custom_activity(self, activity: dict[str, Any]) -> None:
        """Post an activity verbatim to the bot through the Playground ("Mock an Activity > Custom activity").

        The bot's replies appear in the UI if they go to a conversation the UI shows; the activity itself does
        not. Use it for what the UI cannot type: another locale, another sender.
        """
        response = await self.page.request.post(f"{self.url}/_internal/v1/customActivities", data=activity)
        try:
            if response.status != 200:
                raise HarnessError(f"custom activity refused: HTTP {response.status} {await response.text()}")
        finally:
            await response.dispose()

    def personal_message(self, text: str, *, locale: str = "en-US", user: dict[str, Any] | None = None,
                         conversation_id: str | None = None) -> dict[str, Any]:
        """A message activity shaped like the Playground's own, for `send_custom_activity`."""
        sender = user or self.current_user
        return {
            "type": "message",
            "id": f"custom-{time.time_ns()}",
            "text": text,
            "textFormat": "plain",
            "locale": locale,
            "channelId": "msteams",
            "serviceUrl": f"{self.url}/_connector",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "from": {"id": sender["id"], "name": sender["name"], "aadObjectId": sender["aadObjectId"]},
            "recipient": {"id": self.config["bot"]["id"], "name": self.bot_name},
            "conversation": {"id": conversation_id or self.config["personalChat"]["id"],
                             "conversationType": "personal", "tenantId": self.config["tenantId"]},
            "channelData": {"tenant": {"id": self.config["tenantId"]}},
            "entities": [{"type": "clientInfo", "locale": locale, "country": "NL" if locale.startswith("nl")
                          else "US", "platform": "Web", "timezone": "UTC"}],
        }
