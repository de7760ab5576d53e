"""`python -m incident CASE_ID --format pdf|json [--output FILE] [--language en|nl]`: a case's incident report.

Reads the database URL and the tenant through `config.Settings.from_env()` (like `tools/audit.py`: the store reads
no configuration of its own) and writes the report `incident.report` builds: JSON to standard output or `--output`,
the PDF to `--output` (default `incident-<case id>.pdf`). The database is opened without migrating it: a report
reads, it never changes the schema.

The tenant is the configured one (`M365_TENANT_ID`, or the demo tenant of `DEMO_TENANT_ENV`). Only when none is
configured (the embedded demo tenant) does `--tenant` name it. A case of another tenant is refused with exit
status 2, as are bad settings and arguments; an unknown case id or an unreadable database exits with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from config import Settings, SettingsError, read_demo_tenant_env
from incident.pdf import render_pdf
from incident.report import IncidentReport, ReportRefused, build_report, report_json
from locales import t
from store import Store
from store.db import normalize_url, open_database

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


def configured_tenant(settings: Settings) -> str:
    """The tenant the bot serves according to `settings` ("" when the embedded demo tenant picks it at start)."""
    if settings.m365_tenant_id:
        return settings.m365_tenant_id
    if settings.demo_mode and settings.demo_tenant_env:
        return read_demo_tenant_env(settings.demo_tenant_env).get("M365_TENANT_ID", "")
    return ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m incident", description="Write the incident report of a case.")
    parser.add_argument("case_id", metavar="CASE_ID", help="the case's id (python -m tools.audit shows them)")
    parser.add_argument("--format", choices=("pdf", "json"), default="pdf", help="pdf (default) or json")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help="the file to write (default: incident-<case>.pdf; JSON goes to standard output)")
    parser.add_argument("--language", choices=("en", "nl"), default="en", help="the report's language")
    parser.add_argument("--tenant", default="",
                        help="the tenant id, only when none is configured (the embedded demo tenant)")
    return parser


async def _read(url: str, tenant_id: str, args: argparse.Namespace) -> IncidentReport | int:
    """The report, or the exit status after printing why there is none."""
    db = await open_database(url, migrate=False)
    try:
        if await db.current_revision() is None:
            print("error: the database has no schema yet (start the bot once, or run the migrations)",
                  file=sys.stderr)
            return EXIT_FAILED
        try:
            return await build_report(Store(db), tenant_id, args.case_id, locale=args.language)
        except ReportRefused as exc:
            print(f"error: {t(args.language, exc.key)} ({exc.case_id})", file=sys.stderr)
            return EXIT_REFUSED if exc.code == "other_tenant" else EXIT_FAILED
    finally:
        await db.close()


def _write(report: IncidentReport, args: argparse.Namespace) -> None:
    if args.format == "json":
        text = json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
        return
    target: Path = args.output or Path(f"incident-{report.case_id}.pdf")
    target.write_bytes(render_pdf(report))
    print(f"wrote {target}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    """Read the settings (unless given), write the report `argv` asks for; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = settings or Settings.from_env()
        tenant_id = configured_tenant(settings)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.tenant and tenant_id and args.tenant.lower() != tenant_id.lower():
        print("error: --tenant names another tenant than the configured one", file=sys.stderr)
        return EXIT_REFUSED
    tenant_id = tenant_id or args.tenant
    if not tenant_id:
        print("error: no tenant is configured (M365_TENANT_ID): name it with --tenant", file=sys.stderr)
        return EXIT_REFUSED
    url = settings.effective_database_url
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        print(f"error: no database at {parsed.database}", file=sys.stderr)
        return EXIT_FAILED
    try:
        report = asyncio.run(_read(url, tenant_id, args))
        if isinstance(report, int):
            return report
        _write(report, args)
    except Exception as exc:  # a CLI reports failures in one line rather than a traceback
        print(f"error: cannot write the report from {parsed.render_as_string(hide_password=True)}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
