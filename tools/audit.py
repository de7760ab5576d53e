"""`python -m tools.audit [--since 7d] [--json] [--case ID]`: print the bot's audit log.

Reads the database URL through `config.Settings.from_env()` (DATABASE_URL, or the default SQLite file) and
nothing else from the environment, then hands it to the store's command line (`store/audit.py`), which reads
no configuration of its own.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from config import Settings, SettingsError
from store.audit import main as print_audit_log


def main(argv: Sequence[str] | None = None) -> int:
    """Read the settings, print the audit log; returns the exit status (2 for a configuration error)."""
    try:
        url = Settings.from_env().effective_database_url
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return print_audit_log(argv, database_url=url)


if __name__ == "__main__":
    sys.exit(main())
