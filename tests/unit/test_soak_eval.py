"""The chaos soak's judgement (bench/soak.py): the pure checks that decide its exit code, on made-up runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import pgcluster
from bench.soak import (
    EXPECTED_ERRORS,
    HELP,
    ISAIAH_QUERIES,
    REPORTS,
    STATUS,
    TOKEN_RENEW_SECONDS,
    Exchange,
    InvokeRecord,
    Outage,
    acknowledged_actions,
    answered_check,
    case_ids,
    chaos_check,
    database_outage_check,
    invoke_check,
    lost_audit_check,
    lost_case_check,
    plan_outages,
    reply_kind,
    rss_check,
    rss_growth,
    scan_log,
    splice_section,
    token_outage_check,
    unhandled_check,
)
from dialogs.intents import Intent, recognize
from locales import t


def _samples(minutes: float, mb_at: Callable[[int], float]) -> list[tuple[float, float]]:
    """One sample every 2 s; `mb_at(t)` gives the RSS at second t."""
    return [(float(s), float(mb_at(s))) for s in range(0, int(minutes * 60) + 1, 2)]


# --- RSS growth -------------------------------------------------------------------------------------------------


def test_flat_rss_after_warm_up_passes_even_with_a_steep_first_two_minutes() -> None:
    growth = rss_growth(_samples(4, lambda s: 100 + s if s < 120 else 220))
    assert growth is not None
    assert growth.start_mb == 220 and growth.end_mb == 220 and growth.growth_pct == 0
    assert rss_check(growth).passed is True


def test_steady_growth_after_minute_two_fails() -> None:
    growth = rss_growth(_samples(10, lambda s: 200 + max(0, s - 120) * 0.1))  # +48 MB over 8 minutes
    assert growth is not None
    assert growth.growth_pct == pytest.approx((245 - 201.4) / 201.4 * 100, abs=1.0)
    check = rss_check(growth)
    assert check.passed is False
    assert "+2" in check.detail


def test_growth_just_under_the_limit_passes_and_just_over_fails() -> None:
    under = rss_growth(_samples(4, lambda s: 200 if s < 200 else 219))
    over = rss_growth(_samples(4, lambda s: 200 if s < 200 else 221))
    assert rss_check(under).passed is True
    assert rss_check(over).passed is False


def test_one_outlier_sample_decides_nothing() -> None:
    growth = rss_growth(_samples(4, lambda s: 500 if s == 238 else 200))
    assert growth is not None and growth.growth_pct == 0


def test_a_run_too_short_for_both_windows_is_not_measured_rather_than_passed() -> None:
    assert rss_growth(_samples(2.9, lambda s: 100)) is None
    check = rss_check(None)
    assert check.passed is None
    assert rss_growth([]) is None
    assert rss_growth([(130.0, float("nan")), (300.0, float("nan"))]) is None


# --- every message answered, every invoke 200 -------------------------------------------------------------------


def _exchange(status: int | None = 201, delay: float | None = 0.5) -> Exchange:
    return Exchange("megan", "report", 10.0, status, None if delay is None else 10.0 + delay)


def test_all_messages_answered_in_time_passes() -> None:
    check = answered_check([_exchange(), _exchange(200, 59.0)], timeout=60)
    assert check.passed is True
    assert "2 of 2" in check.detail


@pytest.mark.parametrize(("status", "delay", "why"), [
    (201, None, "no reply"),
    (201, 61.0, "reply after 61.0 s"),
    (500, 0.1, "HTTP 500"),
    (None, None, "HTTP None"),
])
def test_one_unanswered_late_or_failed_message_fails(status: int | None, delay: float | None, why: str) -> None:
    check = answered_check([_exchange(), _exchange(status, delay), _exchange()], timeout=60)
    assert check.passed is False
    assert "1 failures in 3 messages" in check.detail and why in check.detail


def test_a_progress_card_never_replaced_by_its_findings_fails() -> None:
    check = answered_check([_exchange()], missing_findings=1)
    assert check.passed is False
    assert "never their findings card" in check.detail


def test_no_messages_at_all_is_a_failure_not_a_vacuous_pass() -> None:
    assert answered_check([]).passed is False
    assert invoke_check([]).passed is False


def test_invokes_need_http_200_and_an_invoke_response_of_200() -> None:
    good = InvokeRecord("alex", "refresh", 200, 200, "application/vnd.microsoft.card.adaptive", 1.0)
    assert invoke_check([good, good]).passed is True
    http_500 = InvokeRecord("alex", "unblock", 500, None, "", 1.0)
    error_body = InvokeRecord("isaiah", "refresh", 200, 500, "application/vnd.microsoft.error", 1.0)
    for bad in (http_500, error_body):
        check = invoke_check([good, bad])
        assert check.passed is False
        assert "1 of 2" in check.detail and bad.verb in check.detail


# --- the bot's log ------------------------------------------------------------------------------------------------

LOG = """\
2026-11-28 08:43:01,100 INFO bot: bot ready: tenant 4f8c, demo mode, bot auth off (anonymous)
2026-11-28 08:43:02,200 WARNING m365.http: Microsoft Graph GET /v1.0/users -> 429; retry in 1.00 s (attempt 1 of 4)
2026-11-28 08:43:03,300 WARNING m365.http: Exchange POST /adminapi/beta/x/InvokeCommand -> 503; retry in 0.30 s
2026-11-28 08:43:31,930 ERROR teams.watch: restriction watch: alerting MeganB@example.com failed; retrying next round
Traceback (most recent call last):
  File "/work/main/teams/watch.py", line 180, in run_once
    outcome = await self._handle(restriction)
m365.errors.UpstreamTimeout: Microsoft Graph did not answer GET /v1.0/users within 5 s
2026-11-28 08:43:40,000 INFO teams.watch: restriction watch: 4 restricted, 0 alerted, 0 pending, 1 failed
"""


def test_log_scan_finds_the_traceback_by_its_exception_and_the_error_record() -> None:
    scan = scan_log(LOG.splitlines())
    assert scan.tracebacks == (
        "m365.errors.UpstreamTimeout: Microsoft Graph did not answer GET /v1.0/users within 5 s",)
    assert len(scan.errors) == 1 and "alerting MeganB@example.com failed" in scan.errors[0]
    assert scan.warnings == 2 and scan.warnings_by_logger == {"m365.http": 2}
    assert scan.problems == 2
    check = unhandled_check(scan, error_replies=0, alive=True)
    assert check.passed is False and "UpstreamTimeout" in check.detail


def test_warnings_of_handled_faults_alone_pass() -> None:
    scan = scan_log(LOG.splitlines()[:3])
    assert scan.problems == 0
    check = unhandled_check(scan, error_replies=0, alive=True)
    assert check.passed is True and "2 WARNING" in check.detail


def test_expected_error_patterns_are_not_counted_but_their_tracebacks_are() -> None:
    scan = scan_log(LOG.splitlines(), expected=(re.compile(r"alerting \S+ failed"),))
    assert scan.errors == ()
    assert len(scan.tracebacks) == 1


def test_chained_tracebacks_count_once_and_asyncio_leftovers_count() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in f',
        "KeyError: 'x'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "b.py", line 2, in g',
        "ValueError: boom",
        "2026-11-28 08:44:00,000 ERROR asyncio: Task exception was never retrieved",
        "sys:1: RuntimeWarning: coroutine 'x' was never awaited",
        "Unclosed client session",
    ]
    scan = scan_log(lines)
    assert scan.tracebacks == ("KeyError: 'x'", "ValueError: boom")
    assert len(scan.errors) == 1
    assert len(scan.stray) == 2


def test_error_replies_or_a_dead_bot_fail_even_with_a_clean_log() -> None:
    clean = scan_log([])
    assert unhandled_check(clean, error_replies=1, alive=True).passed is False
    assert unhandled_check(clean, error_replies=0, alive=False).passed is False
    assert unhandled_check(clean, error_replies=0, alive=True).passed is True


# --- lost cases ---------------------------------------------------------------------------------------------------


def test_every_shown_case_stored_and_every_account_with_a_case_passes() -> None:
    check = lost_case_check({"c1": "A", "c2": None}, {"c1": "a", "c2": "b", "c3": "c"}, ["A", "b"],
                            ["a", "b", "c"], 0)
    assert check.passed is True


@pytest.mark.parametrize(("shown", "stored", "accounts", "with_cases", "unfinished", "why"), [
    ({"c1": "a"}, {}, [], [], 0, "c1 shown on a card is not in the store"),
    ({"c1": "a"}, {"c1": "b"}, [], [], 0, "stored for account b, shown for a"),
    ({}, {}, ["a"], [], 0, "account a was investigated or reported but has no case"),
    ({}, {}, [], [], 2, "2 audit records 'started' without an outcome"),
])
def test_a_missing_case_or_audit_outcome_fails(shown: dict[str, str | None], stored: dict[str, str],
                                              accounts: list[str], with_cases: list[str], unfinished: int,
                                              why: str) -> None:
    check = lost_case_check(shown, stored, accounts, with_cases, unfinished)
    assert check.passed is False
    assert why in check.detail


# --- reading the bot's replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_replies_are_told_apart_in_both_languages(locale: str) -> None:
    confirm = t(locale, "investigate.confirm", name="Megan Bowen", upn="MeganB@example.com", department="Sales")
    assert reply_kind({"type": "message", "text": confirm}, locale) == "confirm"
    choose = t(locale, "investigate.choose", count=2)
    assert reply_kind({"type": "message", "text": choose}, locale) == "choice"
    progress = {"attachments": [{"content": {"body": [{"type": "RichTextBlock", "inlines": [
        {"type": "TextRun", "text": t(locale, "progress.title", name="Megan")}]}]}}]}
    assert reply_kind(progress, locale) == "progress"
    assert reply_kind({"text": t(locale, "error.generic")}, locale) == "error"
    assert reply_kind({"text": "something else entirely"}, locale) == "other"


def test_case_ids_come_from_every_action_execute_in_a_card() -> None:
    card = {"body": [{"type": "ActionSet", "actions": [
        {"type": "Action.Execute", "verb": "refresh", "data": {"verb": "refresh", "caseId": "c1"}},
        {"type": "Action.ShowCard", "card": {"actions": [
            {"type": "Action.Execute", "data": {"verb": "unblock", "caseId": "c2"}}]}},
        {"type": "Action.OpenUrl", "url": "https://example.com", "data": {"caseId": "nope"}},
    ]}]}
    assert case_ids(card) == {"c1", "c2"}
    assert case_ids([card, None, "x"]) == {"c1", "c2"}


def test_what_the_soak_says_is_understood_as_meant() -> None:
    for language in ("en", "nl"):
        for text in REPORTS[language]:
            assert recognize(text).intent == Intent.REPORT_BOUNCE, text
        for text in STATUS[language]:
            assert recognize(text).intent == Intent.STATUS, text
        for text in HELP[language]:
            assert recognize(text).intent == Intent.HELP, text
    for text, _ in ISAIAH_QUERIES:
        assert recognize(text).intent == Intent.INVESTIGATE, text


def test_the_performance_section_is_replaced_between_its_markers_only() -> None:
    document = "# Performance\n\nintro\n\n<!-- soak:begin -->\nold table\n<!-- soak:end -->\n\n## After\n"
    updated = splice_section(document, "new table")
    assert updated == "# Performance\n\nintro\n\n<!-- soak:begin -->\nnew table\n<!-- soak:end -->\n\n## After\n"
    appended = splice_section("# Performance\n", "t")
    assert appended.endswith("## Chaos soak\n\n<!-- soak:begin -->\nt\n<!-- soak:end -->\n")


def test_the_soak_fails_when_the_chaos_did_not_happen() -> None:
    assert chaos_check(100, 1000).passed is True
    assert chaos_check(10, 1000).passed is False  # 1%: the fault rules did not reach the bot's tenant
    assert chaos_check(300, 1000).passed is False
    assert chaos_check(0, 0).passed is False


# --- lost audit rows ----------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _started_line(verb: str, correlation: str) -> str:
    """A log line as the bot writes it (bot.py's format over core/presses.py's message)."""
    return (f"2026-11-28 08:44:00,000 INFO core.presses: {verb} on case 01HCASE by "
            f"2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03 (correlation {correlation})")


def test_the_actions_the_bot_acknowledged_are_read_from_its_log() -> None:
    lines = [_started_line("unblock", "ab12"), "2026-11-28 08:44:01,000 INFO core.presses: unrelated",
             _started_line("block_signin", "cd34")]
    assert acknowledged_actions(lines) == {"ab12": "unblock", "cd34": "block_signin"}


def test_the_log_line_the_soak_reads_is_still_the_one_core_presses_writes() -> None:
    # If core/presses.py rewords it, the soak would read no acknowledged action and prove nothing.
    source = (ROOT / "core" / "presses.py").read_text(encoding="utf-8")
    assert '"%s on case %s by %s (correlation %s)", spec.verb.value, case.id' in source


def test_every_acknowledged_action_stored_with_its_outcome_and_every_write_audited_passes() -> None:
    check = lost_audit_check({"ab12": "unblock"}, {"ab12": {"started", "succeeded"}, "zz": {"started", "failed"}},
                             {"diegos@example.com": 1}, {"DiegoS@example.com": 2})
    assert check.passed is True
    assert "1 actions logged as started" in check.detail and "1 unblocks" in check.detail


@pytest.mark.parametrize(("outcomes", "tenant", "audited", "why"), [
    ({}, {}, {}, "no 'started' row in the database"),
    ({"ab12": {"started"}}, {}, {}, "no outcome row"),
    ({"ab12": {"started", "unknown"}}, {"diegos@example.com": 2}, {"diegos@example.com": 1},
     "unblocked 2 times by the tenant, 1 audit 'started' rows"),
])
def test_an_acknowledged_action_missing_or_a_write_without_its_row_fails(
        outcomes: dict[str, set[str]], tenant: dict[str, int], audited: dict[str, int], why: str) -> None:
    check = lost_audit_check({"ab12": "unblock"}, outcomes, tenant, audited)
    assert check.passed is False
    assert why in check.detail


def test_the_store_alarm_of_the_database_outage_is_expected_but_other_errors_are_not() -> None:
    lines = ["2026-11-28 08:45:00,000 ERROR store.db: database unreachable: ConnectionRefusedError",
             "2026-11-28 08:45:01,000 ERROR teams.handler: unhandled error in activity soak-9 (message)"]
    scan = scan_log(lines, EXPECTED_ERRORS)
    assert scan.errors == (lines[1],)


# --- the outages --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [1, 1.5, 4, 10])
def test_both_outages_fit_in_the_run_and_keep_out_of_each_other(minutes: float) -> None:
    seconds = minutes * 60
    plan = plan_outages(seconds)
    assert 0 < plan.token_start < plan.token_end < plan.db_start
    assert plan.token_seconds > TOKEN_RENEW_SECONDS  # the outage outlives every cached token
    assert plan.db_start + plan.db_seconds <= 0.9 * seconds  # time left to recover inside the run
    if minutes >= 4:
        assert plan.token_end < 120  # before the RSS check's first window
        assert plan.db_start >= 150
        assert plan.db_seconds == 20


def _said(label: str, at: float, kind: str) -> Exchange:
    return Exchange("megan", label, at, 201, at + 0.2, kind)


TOKEN_OUTAGE = Outage("token endpoint", began=100.0, ended=145.0)


def test_a_token_outage_with_local_answers_and_neutral_microsoft_365_answers_passes() -> None:
    exchanges = [_said("help", 101, "help"), _said("status", 110, "no_report"), _said("report", 102, "restricted"),
                 _said("report", 100 + TOKEN_RENEW_SECONDS + 1, "unreachable"), _said("help", 150, "error")]
    check = token_outage_check(TOKEN_OUTAGE, exchanges, token_failures=3)
    assert check.passed is True, check.detail
    assert "{'unreachable': 1}" in check.detail  # the report before the tokens expired is not judged


@pytest.mark.parametrize(("exchanges", "failures", "why"), [
    ([_said("help", 101, "help"), _said("report", 130, "unreachable")], 0, "answered no 5xx"),
    ([_said("help", 101, "unreachable"), _said("report", 130, "unreachable")], 2, "help -> unreachable"),
    ([_said("status", 101, "error"), _said("report", 130, "unreachable")], 2, "status -> error"),
    ([_said("report", 130, "unreachable")], 2, "nobody asked for help or status"),
    ([_said("help", 101, "help"), _said("report", 130, "restricted")], 2, "no turn needing Microsoft 365"),
    ([_said("help", 101, "help"), _said("report", 130, "unreachable"), _said("investigate", 131, "none")], 2,
     "generic error or no answer"),
])
def test_a_token_outage_that_was_not_felt_or_broke_local_answers_fails(exchanges: list[Exchange], failures: int,
                                                                        why: str) -> None:
    check = token_outage_check(TOKEN_OUTAGE, exchanges, failures)
    assert check.passed is False
    assert why in check.detail


def test_a_token_outage_that_never_began_fails() -> None:
    check = token_outage_check(Outage("token endpoint", error="ClientError: boom"), [], 0)
    assert check.passed is False and "did not run: ClientError" in check.detail


def _db_outage(readyz: list[tuple[float, int | None]]) -> Outage:
    return Outage("database", began=200.0, ended=223.0, readyz=readyz, restart_seconds=3.0)


def test_a_database_outage_seen_by_readyz_and_recovered_from_passes() -> None:
    outage = _db_outage([(199.0, 200), (205.0, 200), (212.0, 503), (220.0, None), (224.0, 200)])
    check = database_outage_check(outage, [_said("status", 210, "status")], findings_after=2, required=True)
    assert check.passed is True, check.detail
    assert "'503': 1" in check.detail and "200 again 1.0 s after" in check.detail


@pytest.mark.parametrize(("readyz", "findings", "why"), [
    ([(205.0, 200), (215.0, 200), (224.0, 200)], 1, "answered 200 all the while"),
    ([(199.0, 200), (224.0, 200)], 1, "not polled while the database was down"),
    ([(210.0, 503), (224.0, 503), (300.0, 200)], 1, "not 200 within 60 s of the restart"),
    ([(210.0, 503), (224.0, 200)], 0, "no investigation reached its findings card after the restart"),
])
def test_a_database_outage_readyz_missed_or_the_bot_never_recovered_from_fails(
        readyz: list[tuple[float, int | None]], findings: int, why: str) -> None:
    check = database_outage_check(_db_outage(readyz), [], findings_after=findings, required=False)
    assert check.passed is False
    assert why in check.detail


def test_a_skipped_database_outage_is_not_measured_locally_but_fails_in_ci() -> None:
    skipped = Outage("database", skipped="no PostgreSQL server binaries")
    assert database_outage_check(skipped, [], 0, required=False).passed is None
    check = database_outage_check(skipped, [], 0, required=True)
    assert check.passed is False and "not run: no PostgreSQL" in check.detail


# --- the soak's own PostgreSQL cluster ------------------------------------------------------------------------------


def test_as_root_the_cluster_runs_as_the_postgres_user_through_runuser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgcluster, "find_bindir", lambda: Path("/usr/lib/postgresql/15/bin"))
    monkeypatch.setattr(pgcluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pgcluster.pwd, "getpwnam", lambda name: object())
    monkeypatch.setattr(pgcluster.shutil, "which", lambda name: f"/usr/sbin/{name}")
    runner, reason = pgcluster.find_runner()
    assert runner is not None and reason == ""
    assert runner.argv("pg_ctl", "status") == ["runuser", "-u", "postgres", "--",
                                               "/usr/lib/postgresql/15/bin/pg_ctl", "status"]


def test_as_another_user_the_cluster_is_that_users_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgcluster, "find_bindir", lambda: Path("/opt/pg/bin"))
    monkeypatch.setattr(pgcluster.os, "geteuid", lambda: 1000)
    runner, _ = pgcluster.find_runner()
    assert runner is not None and runner.argv("initdb", "-D", "x") == ["/opt/pg/bin/initdb", "-D", "x"]


def _no_user(name: str) -> object:
    raise KeyError(name)


@pytest.mark.parametrize(("bindir", "euid", "getpwnam", "why"), [
    (None, 1000, None, "no PostgreSQL server binaries"),
    (Path("/usr/lib/postgresql/15/bin"), 0, _no_user, "no 'postgres' OS user"),
])
def test_when_no_cluster_can_be_made_the_reason_is_given(monkeypatch: pytest.MonkeyPatch, bindir: Path | None,
                                                         euid: int, getpwnam: Callable[[str], object] | None,
                                                         why: str) -> None:
    monkeypatch.setattr(pgcluster, "find_bindir", lambda: bindir)
    monkeypatch.setattr(pgcluster.os, "geteuid", lambda: euid)
    if getpwnam is not None:
        monkeypatch.setattr(pgcluster.pwd, "getpwnam", getpwnam)
    cluster, reason = pgcluster.find_cluster()
    assert cluster is None and why in reason


def test_the_section_is_drawn_from_the_json_result_with_its_checks_and_outages() -> None:
    from bench.common import figure
    from bench.report import render_soak

    result = {
        "name": "soak", "when": "2026-12-06T20:00:00+00:00", "machine": {"cpus": 2, "python": "3.11.7"},
        "figures": [figure("lost audit rows", 0.0, "count", target="0", met=True)], "notes": "4 minutes",
        "checks": [{"name": "no lost audit row", "passed": True, "detail": "3 actions | all stored"},
                   {"name": "database outage", "passed": None, "detail": "not run: no binaries"}],
        "outages": {"token_endpoint": {"began": 48.0, "ended": 93.1, "status": 503, "token_requests": 20,
                                       "token_requests_refused": 10, "token_lifetime_seconds": 315},
                    "database": {"began": None, "ended": None, "skipped": "no binaries"}},
    }
    section = render_soak(result)
    assert "| soak | lost audit rows | 0.00 count |" in section
    assert "| no lost audit row | ✅ pass | 3 actions \\| all stored |" in section
    assert "| database outage | — not measured | not run: no binaries |" in section
    assert "| token endpoint | 48.0 s | 93.1 s | every token request answered 503 (10 of 20 refused" in section
    assert "| database | n/a | n/a | not run: no binaries |" in section
    assert splice_section("# P\n<!-- soak:begin -->\nold\n<!-- soak:end -->\n", section).count("old") == 0
