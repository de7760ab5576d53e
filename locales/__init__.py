"""Message catalogs (English and Dutch) and the one function that picks and formats a message.

Every user-facing sentence lives here, keyed by a stable id. Parameters are filled with
`str.format_map`; callers pass tenant text already made safe by `cards.text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from locales import (
    en,
    en_diagnose,
    en_remediation,
    en_report,
    en_triage,
    nl,
    nl_diagnose,
    nl_remediation,
    nl_report,
    nl_triage,
)


def _merge(*parts: Mapping[str, str]) -> dict[str, str]:
    """One catalog from the per-feature modules; a key defined twice is a bug caught at import."""
    merged: dict[str, str] = {}
    for part in parts:
        duplicated = merged.keys() & part.keys()
        if duplicated:
            raise ValueError(f"message keys defined twice: {sorted(duplicated)}")
        merged.update(part)
    return merged


CATALOGS: Mapping[str, Mapping[str, str]] = {
    "en": _merge(en.MESSAGES, en_remediation.MESSAGES, en_report.MESSAGES, en_triage.MESSAGES, en_diagnose.MESSAGES),
    "nl": _merge(nl.MESSAGES, nl_remediation.MESSAGES, nl_report.MESSAGES, nl_triage.MESSAGES, nl_diagnose.MESSAGES),
}
DEFAULT_LANGUAGE = "en"


def language_of(locale: str | None) -> str:
    """The catalog language for a Teams locale such as `nl-NL` or `en-US`; English when unsupported."""
    if not locale:
        return DEFAULT_LANGUAGE
    lang = locale.replace("_", "-").split("-", 1)[0].lower()
    return lang if lang in CATALOGS else DEFAULT_LANGUAGE


class _Params(dict[str, object]):
    """Leaves an unknown placeholder visible instead of raising, so a catalog slip never breaks a reply."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(locale: str | None, key: str, /, **params: object) -> str:
    """The message `key` in the speaker's language, formatted with `params`.

    Falls back to English for a key missing in the other catalog (a test keeps the catalogs in step),
    and to the key itself when no catalog has it.
    """
    catalog = CATALOGS[language_of(locale)]
    template = catalog.get(key) or CATALOGS[DEFAULT_LANGUAGE].get(key) or key
    return template.format_map(_Params(params))


def has(key: str) -> bool:
    """True when the English catalog defines `key`."""
    return key in CATALOGS[DEFAULT_LANGUAGE]


def resolve_timezone(name: str | None) -> tzinfo:
    """The IANA zone Teams reports as `localTimezone`, or UTC when missing or unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.utc


def format_datetime(value: datetime | None, locale: str | None, tz_name: str | None = None) -> str:
    """A date and time in the speaker's language and time zone, e.g. `28 Nov 2026, 10:32` / `28 nov 2026, 10:32`."""
    if value is None:
        return "—"
    local = value.astimezone(resolve_timezone(tz_name))
    months = t(locale, "months.short").split(",")
    month = months[local.month - 1] if len(months) == 12 else str(local.month)
    zone = local.tzname() or "UTC"
    return f"{local.day} {month} {local.year}, {local:%H:%M} {zone}"


def format_duration(delta: timedelta, locale: str | None) -> str:
    """A short human duration: `3 h`, `2 days` / `2 dagen`."""
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return t(locale, "duration.minutes", n=max(1, seconds // 60))
    if seconds < 86400 * 2:
        return t(locale, "duration.hours", n=seconds // 3600)
    return t(locale, "duration.days", n=seconds // 86400)
