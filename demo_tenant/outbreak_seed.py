"""A generated outbreak seed: the Contoso seed plus enough restricted accounts to make `count` in all.

Each generated account is a copy of one of the seed's stories, renamed, with every record that belongs to
that person copied along (directory user, mailbox and CAS settings, inbox rules and folders, sign-ins, audit
records, risk, authentication methods, consents, alerts, the Restricted entities entry):

| story | copied from | what an investigation finds |
|---|---|---|
| compromised | Megan Bowen | foreign sign-in, risk high, forwarding rules, new MFA method, rogue consent |
| suspicious | Patti Fernandez | external forwarding, IMAP from a data centre, no MFA |
| suspicious (synced) | Grady Archie | SMTP AUTH from abroad after failures |
| false positive | Adele Vance | a legitimate bulk mailing hit the recipient limit |
| spam only | Diego Siciliani | restricted for spam, nothing else out of the ordinary (the verdict: suspicious) |

Ids that belong to the copied person or their records (user id, sign-in ids, mailbox GUIDs, …) get new
deterministic ids; ids shared with the rest of the tenant (applications, groups, the tenant) stay, so the
copies consent to the same rogue app and sit in the same groups. Times stay as they are (the demo tenant
shifts the whole seed to "now" when it loads it).

    python -m demo_tenant.outbreak_seed --count 200 --out data/outbreak.json
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Json = dict[str, Any]

DEFAULT_SEED = Path(__file__).resolve().parent / "seeds" / "contoso.json"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NAMESPACE = uuid.UUID("0b7e5c1e-6f0a-4c8e-9a51-2d3c4b5a6f70")

# (story, template UPN, share of the generated accounts)
STORIES: tuple[tuple[str, str, float], ...] = (
    ("compromised", "MeganB@example.com", 0.20),
    ("suspicious", "PattiF@example.com", 0.15),
    ("suspicious_synced", "GradyA@example.com", 0.10),
    ("false_positive_bulk", "AdeleV@example.com", 0.30),
    ("spam_only", "DiegoS@example.com", 0.25),
)
_GIVEN = ("Anna", "Bram", "Chloe", "Daan", "Emma", "Finn", "Gijs", "Hanna", "Ilse", "Jesse", "Kim", "Lars",
          "Mila", "Noah", "Olivia", "Pim", "Quinten", "Roos", "Sem", "Tess", "Ugo", "Vera", "Wout", "Yara", "Zoë")
_SURNAMES = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos",
             "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits",
             "de Graaf", "van der Meer", "Kok", "Jacobs", "de Haan", "Vermeulen")
# Microsoft's outbound spam shape; its source is tests/fixtures/microsoft/exchange/reason-outbound-spam.json.
_SPAM_REASON = ("OutboundSpamLast24Hours=57;OutboundMailLast24Hours=61;OutboundSpamPercent=93;Last Spam Message "
                "MessagetraceId:{trace}")


def outbreak_seed(base: Json, count: int = 200) -> Json:
    """The seed `base` plus generated restricted accounts, so that `count` accounts are restricted in all."""
    seed = copy.deepcopy(base)
    graph, exchange = seed["graph"], seed["exchange"]
    already = len(exchange.get("Get-BlockedSenderAddress") or [])
    wanted = max(0, count - already)
    plan = _plan(wanted)
    users = {str(u["userPrincipalName"]).lower(): u for u in graph["users"]}
    for story, template_upn, number in plan:
        template = users[template_upn.lower()]
        records = _records_of(base, template)
        keep = _guids(json.dumps(_without(base, records))) - {str(template["id"]).lower()}
        for _ in range(number):
            index = len(graph["users"])
            clone = _clone(records, template, story, index, keep)
            _add(seed, clone)
    seed["tenant"]["displayName"] = f"{base['tenant'].get('displayName', 'Contoso')} (outbreak of {count})"
    return seed


def _plan(wanted: int) -> list[tuple[str, str, int]]:
    counts = [int(wanted * share) for _, _, share in STORIES]
    for n in range(wanted - sum(counts)):  # the rounding remainder, spread over the stories in order
        counts[n % len(counts)] += 1
    return [(story, upn, c) for (story, upn, _), c in zip(STORIES, counts, strict=True) if c]


# A person's records: (section path, key or None, record). Lists are matched by content, maps by key.
Record = tuple[tuple[str, str], str | None, Any]


def _records_of(seed: Json, user: Json) -> list[Record]:
    user_id = str(user["id"]).lower()
    upn = str(user["userPrincipalName"]).lower()
    alias = str(user.get("mailNickname") or upn.split("@")[0]).lower()

    def mine(obj: Any) -> bool:
        text = json.dumps(obj).lower()
        return user_id in text or upn in text or f'"{alias}"' in text

    out: list[Record] = []
    for top in ("graph", "exchange"):
        for name, section in seed[top].items():
            if isinstance(section, list):
                out += [((top, name), None, item) for item in section if isinstance(item, dict) and mine(item)]
            elif isinstance(section, dict) and name != "unblockCounts":
                out += [((top, name), key, value) for key, value in section.items()
                        if key.lower() in (user_id, upn) or key.lower() == alias]
    return out


def _without(seed: Json, records: list[Record]) -> Json:
    """The seed without `records` (to find the ids shared with the rest of the tenant)."""
    rest = copy.deepcopy(seed)
    for (top, name), key, record in records:
        section = rest[top][name]
        if key is None:
            section.remove(record)
        else:
            section.pop(key, None)
    return rest


def _guids(text: str) -> set[str]:
    return {m.lower() for m in _GUID.findall(text)}


def _clone(records: list[Record], template: Json, story: str, index: int, keep: set[str]) -> list[Record]:
    given = _GIVEN[index % len(_GIVEN)]
    surname = _SURNAMES[(index // len(_GIVEN)) % len(_SURNAMES)]
    alias = f"{given}.{surname.replace(' ', '')}{index}".lower().replace("ë", "e")
    old_alias = str(template.get("mailNickname"))
    old_name = str(template.get("displayName"))
    new_name = f"{given} {surname}"

    def new_guid(old: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{index}:{old.lower()}"))

    def rewrite(text: str) -> str:
        text = _GUID.sub(lambda m: m.group(0) if m.group(0).lower() in keep else new_guid(m.group(0)), text)
        text = re.sub(re.escape(old_alias), alias, text, flags=re.IGNORECASE)
        return text.replace(old_name, new_name)

    out: list[Record] = []
    for where, key, record in records:
        copied = json.loads(rewrite(json.dumps(record)))
        new_key = rewrite(key) if key is not None else None
        if where == ("graph", "users"):
            copied.update(givenName=given, surname=surname, displayName=new_name)
        if isinstance(copied, dict) and where[1] in ("alerts_v2", "oauth2PermissionGrants"):
            # Ids that are not GUIDs must still be unique across the tenant.
            for field in ("id", "providerAlertId"):
                if isinstance(copied.get(field), str):
                    copied[field] = f"{copied[field]}-{index}"
        out.append((where, new_key, copied))
    if story == "spam_only":
        out += _restricted_for_spam(out, index)
    return out


def _restricted_for_spam(records: list[Record], index: int) -> Iterator[Record]:
    """A Restricted entities entry and the alert the service raises with it, for a story without one."""
    user = next(r for w, _, r in records if w == ("graph", "users"))
    address = str(user["mail"] or user["userPrincipalName"])
    if any(w == ("exchange", "Get-BlockedSenderAddress") for w, _, _ in records):
        return
    trace = str(uuid.uuid5(_NAMESPACE, f"trace:{index}"))
    yield (("exchange", "Get-BlockedSenderAddress"), None, {
        "SenderAddress": address, "Reason": _SPAM_REASON.format(trace=trace), "BlockType": "Spam",
        "CreatedDatetime": "2026-11-28T04:41:09Z", "ChangedDatetime": "2026-11-28T04:41:09Z", "TemporaryBlock": False,
        "InternalOnly": False, "ExpireDatetime": None,
    })


def _add(seed: Json, records: list[Record]) -> None:
    for (top, name), key, record in records:
        section = seed[top][name]
        if key is None:
            section.append(record)
        else:
            section[key] = record


def main(argv: list[str] | None = None, *, read: Callable[[Path], str] = Path.read_text) -> int:
    """Write an outbreak seed file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=200, help="restricted accounts in all (default 200)")
    parser.add_argument("--base", type=Path, default=DEFAULT_SEED, help="the seed to add them to")
    parser.add_argument("--out", type=Path, required=True, help="where to write the seed")
    args = parser.parse_args(argv)
    seed = outbreak_seed(json.loads(read(args.base)), args.count)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(seed, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(seed['exchange']['Get-BlockedSenderAddress'])} restricted accounts, "
          f"{len(seed['graph']['users'])} users")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
