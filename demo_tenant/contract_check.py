"""`python -m demo_tenant.contract_check DIR`: resolve every Graph request logged in DIR against Graph v1.0 metadata.

DIR is what `DEMO_TENANT_CONTRACT_LOG` named while demo tenants ran (the test suite, `make bench`). Prints each
request that does not resolve (or whose served body carried an undeclared property) and exits 1; exits 0 when all
hold, 2 when DIR holds no log at all (a check that saw nothing proves nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demo_tenant.contract import check_logs


def main(argv: list[str] | None = None) -> int:
    """Run the check; the exit status says whether every logged Graph request holds to the contract."""
    parser = argparse.ArgumentParser(prog="python -m demo_tenant.contract_check", description=__doc__)
    parser.add_argument("directory", type=Path, help="the DEMO_TENANT_CONTRACT_LOG directory")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    logs = sorted(directory.glob("graph-*.jsonl")) if directory.is_dir() else []
    if not logs:
        print(f"no Graph contract log in {directory}", file=sys.stderr)
        return 2
    requests = sum(1 for file in logs for line in file.read_text(encoding="utf-8").splitlines() if line.strip())
    violations = check_logs(directory)
    for v in violations:
        print(f"{v.method} {v.path}{'?' + v.query if v.query else ''}\n  -> {v.reason}")
    print(f"{requests} Graph request(s) checked against Microsoft Graph v1.0 metadata, "
          f"{len(violations)} violation(s)", file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
