"""`python -m tools.migrate [-x schema=NAME] upgrade head`: Alembic on the bot's database.

Any Alembic command line works (`current`, `history`, `downgrade -1` …); this only adds the database URL from
`config.Settings.from_env()` (DATABASE_URL, or the default SQLite file) as `-x url=…`, because the store's
migration environment (`store/migrations/env.py`) reads no configuration of its own. The bot itself does not
use this: `store.db.open_database()` migrates programmatically at start.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from alembic.config import main as alembic_main

from config import Settings, SettingsError

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "store" / "alembic.ini"


def main(argv: Sequence[str] | None = None) -> int:
    """Run Alembic with `argv` on the configured database; returns the exit status (2 for a configuration error)."""
    try:
        url = Settings.from_env().effective_database_url
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = list(sys.argv[1:] if argv is None else argv)
    # An `-x url=` of the caller's own comes later and wins (`get_x_argument` keeps the last value).
    alembic_main(argv=["-c", str(ALEMBIC_INI), "-x", f"url={url}", *args], prog="python -m tools.migrate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
