"""`python -m investigation <account> [--json]`: the bot's investigation from the command line.

Runs against the configured tenant (the embedded demo tenant when none is configured). Exit status:
0 for any verdict, 2 for an unknown or ambiguous account, 1 for an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import AsyncExitStack
from typing import Any

from config import Settings
from investigation.burst import as_json as burst_json
from investigation.collect import Investigation
from investigation.evidence import SourceName
from investigation.resolve import Outcome, resolve_account
from investigation.resume import when_sending_resumes
from investigation.service import Investigations
from investigation.snapshot import dump
from m365.errors import M365Error

EXIT_OK, EXIT_ERROR, EXIT_UNKNOWN = 0, 1, 2


def to_json(investigation: Investigation) -> dict[str, Any]:
    """The documented JSON shape: account, restricted, verdict, findings, sources."""
    evidence = investigation.evidence
    user = evidence.user
    restriction = evidence.restriction
    reason = investigation.reason
    sources: dict[str, str] = {}
    for source in SourceName:
        if source == SourceName.auto_reply and evidence.auto_reply_enabled is None:
            continue
        missing = evidence.unavailable_reason(source)
        if missing is not None:
            detail = f" ({missing.detail})" if missing.detail else ""
            sources[source.value] = f"unavailable: {missing.reason_code.value}{detail}"
        else:
            sources[source.value] = "ok"
    return {
        "account": {"id": user.id, "userPrincipalName": user.user_principal_name, "displayName": user.display_name},
        "restricted": {
            "isRestricted": evidence.restricted,
            "since": restriction.created.isoformat() if restriction and restriction.created else None,
            "reason": restriction.reason if restriction else None,
            "limitType": reason.limit_type.value if reason else None,
            "exceedingLimitType": reason.exceeding_limit.value if reason and reason.exceeding_limit else None,
            "internalRecipients": reason.internal_recipients if reason else None,
            "externalRecipients": reason.external_recipients if reason else None,
            "lastMessageRecipients": reason.last_message_recipients if reason else None,
            "spamLast24h": reason.spam_last_24h if reason else None,
            "mailLast24h": reason.mail_last_24h if reason else None,
            "spamPercent": reason.effective_spam_percent if reason else None,
            "messageTraceId": reason.message_trace_id if reason else None,
            "sendingResumes": _resume(investigation),
        },
        "verdict": investigation.assessment.verdict.value,
        "reason": investigation.assessment.reason_code,
        "deciding": _deciding(investigation),
        "urgent": investigation.assessment.urgent,
        "findings": [
            {
                "code": f.code,
                "severity": f.severity.value,
                "summary": _summary(f.code, dict(f.params)),
                "evidence": [{"label": k, "value": v} for k, v in f.evidence],
            }
            for f in investigation.findings
        ],
        "burst": burst_json(evidence),
        "steps": [dump(step) for step in investigation.assessment.recommended_steps],
        "sources": sources,
        "seconds": round(investigation.seconds, 3),
    }


def _resume(investigation: Investigation) -> dict[str, Any] | None:
    """When sending resumes without action (`investigation.resume`): kind, time, policy, basis."""
    resume = when_sending_resumes(investigation.evidence)
    if resume is None:
        return None
    return {"kind": resume.kind.value, "at": resume.at.isoformat() if resume.at else None,
            "policy": resume.policy or None, "basis": resume.basis}


def _deciding(investigation: Investigation) -> dict[str, Any] | None:
    """Which evidence decided the verdict: the rule, the finding codes, and the card's line in English."""
    deciding = investigation.assessment.deciding
    if deciding is None:
        return None
    from cards.findings import deciding_text  # the card's own wording of the line
    from locales import t

    key, values = deciding_text(deciding, "en")
    return {"rule": deciding.rule.value, "combination": deciding.combination or None, "codes": list(deciding.codes),
            "text": t("en", key, **values)}


def _summary(code: str, params: dict[str, str]) -> str:
    from locales import t

    return t("en", f"finding.{code}", **params)


def to_text(investigation: Investigation) -> str:
    """A readable report for a terminal."""
    data = to_json(investigation)
    account = data["account"]
    restricted = data["restricted"]
    lines = [
        f"{account['displayName']} <{account['userPrincipalName']}>",
        "restricted since " + str(restricted["since"]) if restricted["isRestricted"] else (
            "not restricted" if restricted["isRestricted"] is False else "restriction unknown"),
        f"verdict: {data['verdict']}" + (" (urgent)" if data["urgent"] else ""),
    ]
    if data["deciding"] is not None:
        lines.append("  " + data["deciding"]["text"])
    for finding in data["findings"]:
        lines.append(f"  [{finding['severity']}] {finding['summary']}")
    missing = {k: v for k, v in data["sources"].items() if v != "ok"}
    if missing:
        lines.append("not checked:")
        lines.extend(f"  {name}: {state}" for name, state in missing.items())
    return "\n".join(lines)


async def run(account: str, settings: Settings, *, as_json: bool) -> int:
    """Resolve the account, investigate it, print the result; returns the exit status."""
    from tenancy import open_tenant  # the tenant the bot would use (or the demo one it starts)

    async with AsyncExitStack() as stack:
        tenant, _ = await open_tenant(settings, stack)
        resolution = await resolve_account(tenant, account)
        if resolution.outcome != Outcome.found:
            message = {
                Outcome.invalid: f"not a valid account: {resolution.problem}",
                Outcome.none: f"no account matches {resolution.query!r}",
                Outcome.many: "several accounts match: "
                + ", ".join(u.user_principal_name for u in resolution.users),
            }[resolution.outcome]
            print(message, file=sys.stderr)
            return EXIT_UNKNOWN
        investigation = await Investigations(tenant).investigate(resolution.user)
        print(json.dumps(to_json(investigation), indent=2, ensure_ascii=False) if as_json else to_text(investigation))
        return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, read settings, run."""
    parser = argparse.ArgumentParser(prog="python -m investigation", description=__doc__.splitlines()[0])
    parser.add_argument("account", help="UPN, mail address, alias or display name")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    from tenancy import cli_settings  # the command line's own settings and logging

    settings = cli_settings()
    if settings is None:
        return EXIT_ERROR
    try:
        return asyncio.run(run(args.account, settings, as_json=args.json))
    except M365Error as exc:
        print(f"Microsoft 365 error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
