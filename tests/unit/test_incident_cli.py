"""`python -m incident CASE --format pdf|json`: the configured database and tenant, the same report as the card's
export, and a clear refusal (exit 2) for another tenant's case."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from config import Settings
from incident.__main__ import main
from store import Store
from tests.store_fixtures import DbTarget
from tests.unit.test_incident_report import OTHER_TENANT, TENANT, megan_case, megan_investigation, pdf_text

ROOT = Path(__file__).resolve().parents[2]


def seeded(target: DbTarget, tenant: str = TENANT) -> str:
    """Megan's case in a fresh database at `target`; its id."""

    async def seed() -> str:
        db = await target.open()
        try:
            return (await megan_case(Store(db), megan_investigation(), tenant=tenant)).id
        finally:
            await db.close()

    return asyncio.run(seed())


def settings_for(target: DbTarget, tmp_path: Path, tenant: str = TENANT) -> Settings:
    return Settings(database_url=target.url, m365_tenant_id=tenant, data_dir=tmp_path)


def test_json_to_stdout(sqlite_target: DbTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_id = seeded(sqlite_target)
    assert main([case_id, "--format", "json"], settings=settings_for(sqlite_target, tmp_path)) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["case"]["id"] == case_id and report["verdict"]["verdict"] == "compromised"
    assert [e["outcome"] for e in report["timeline"] if e["kind"] == "action"] == ["succeeded", "succeeded", "failed"]


def test_pdf_to_a_file_in_dutch(sqlite_target: DbTarget, tmp_path: Path) -> None:
    case_id = seeded(sqlite_target)
    out = tmp_path / "report.pdf"
    assert main([case_id, "--format", "pdf", "--output", str(out), "--language", "nl"],
                settings=settings_for(sqlite_target, tmp_path)) == 0
    text = pdf_text(out.read_bytes())
    assert "Tijdlijn" in text and "Aanmelding vanaf 102.89.34.10" in text
    assert "Wachtwoord" in text or "wachtwoord" in text


def test_another_tenants_case_is_refused_with_exit_2(sqlite_target: DbTarget, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    case_id = seeded(sqlite_target, tenant=OTHER_TENANT)
    out = tmp_path / "report.json"
    assert main([case_id, "--format", "json", "--output", str(out)],
                settings=settings_for(sqlite_target, tmp_path)) == 2
    assert "belongs to another tenant" in capsys.readouterr().err
    assert not out.exists()


def test_an_unknown_case_says_so(sqlite_target: DbTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded(sqlite_target)
    assert main(["no-such-case", "--format", "json"], settings=settings_for(sqlite_target, tmp_path)) == 1
    assert "There is no case with this ID" in capsys.readouterr().err


def test_tenant_flag_cannot_override_the_configured_tenant(sqlite_target: DbTarget, tmp_path: Path) -> None:
    case_id = seeded(sqlite_target, tenant=OTHER_TENANT)
    assert main([case_id, "--format", "json", "--tenant", OTHER_TENANT],
                settings=settings_for(sqlite_target, tmp_path)) == 2
    # Without a configured tenant (the embedded demo tenant) --tenant names it.
    demo = Settings(database_url=sqlite_target.url, data_dir=tmp_path)
    assert main([case_id, "--format", "json", "--output", str(tmp_path / "r.json"), "--tenant", OTHER_TENANT],
                settings=demo) == 0
    assert main([case_id, "--format", "json"], settings=demo) == 2


def test_the_module_runs_from_the_environment(sqlite_target: DbTarget, tmp_path: Path) -> None:
    """`python -m incident` reads DATABASE_URL and M365_TENANT_ID like the bot does."""
    case_id = seeded(sqlite_target)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": sqlite_target.url, "M365_TENANT_ID": TENANT,
           "M365_CLIENT_ID": "00000000-0000-0000-0000-0000000000c1", "M365_CLIENT_SECRET": "unused",
           "DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "incident", case_id, "--format", "json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["account"]["userPrincipalName"] == "MeganB@example.com"
