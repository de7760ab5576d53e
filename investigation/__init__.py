"""Investigation: decide whether a restricted Microsoft 365 account was compromised.

Reads only. The package turns what Microsoft 365 returns (`m365.records`) into a judgement:

- `investigation.evidence` — `Evidence`, everything gathered about one account, where every source is
  either its records or marked unavailable with a reason (`Unavailable`), so "nothing found" and
  "could not look" never blur.
- `investigation.reason` — `parse_reason`, the Restricted entities `Reason` text as numbers.
- `investigation.indicators` — pure functions `Evidence -> list[Finding]` (`INDICATORS`,
  `run_indicators`) and Microsoft's prevention steps (`prevention_steps`). Findings carry stable codes and
  parameters, never sentences: the text lives in the locale catalogs.
- `investigation.verdict` — `assess`: compromised / suspicious / no_signs / incomplete, urgency, and the
  recommended steps in Microsoft's order (secure, unblock, prevent).

Everything here is pure: no I/O, no asyncio, no logging of tenant data. The concurrent collector that
fills `Evidence` lives in its own module of this package.
"""
