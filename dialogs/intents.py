"""Recognising what a message asks for, in English and Dutch, with anchored patterns (no external AI).

Every pattern matches the whole (normalised) message, so the order of the table never decides between
two intents; a test checks that no sample sentence matches two intents.

A user's report of bounced mail is recognised three ways (see `tests/unit/test_bounce_recognition.py`):
a pasted bounce (non-delivery report) is known by its markers anywhere in the message (`5.1.8`, "bad outbound
sender", "kan niet worden bezorgd", ...); a short message in the user's own words needs a first-person word,
a mail word and a failure word ("my mail bounces", "ik kan niet mailen"); and a few fixed phrases. The
investigate patterns step aside for both, so a pasted bounce that names someone else still checks the
speaker's own account. "I can't send the report by Friday" names no mail, so it is not a report.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# Enough for a pasted bounce with its diagnostic part; every pattern below is linear in the length.
MAX_TEXT = 20_000


class Intent(StrEnum):
    """What the speaker wants."""

    HELP = "help"
    INVESTIGATE = "investigate"
    # "secure X" / "unblock X": the account's findings card, whose buttons (and their gate) do the work.
    SECURE = "secure"
    UNBLOCK = "unblock"
    GREETING = "greeting"
    CANCEL = "cancel"
    REPORT_BOUNCE = "report_bounce"
    STATUS = "status"
    ALERTS_HERE = "alerts_here"
    ALERTS_OFF = "alerts_off"
    ALERTS_WHERE = "alerts_where"
    NOTIFY_IT = "notify_it"
    TRIAGE = "triage"
    DIAGNOSE = "diagnose"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recognized:
    """An intent and, for intents that take one, its argument (e.g. the account to investigate)."""

    intent: Intent
    argument: str = ""


# "<x> is blocked" must not take the speaker's own mail ("my mail is blocked" is a user's report).
_NOT_SELF = r"(?!(?:my|mine|me|i|mijn|ik|mij)\b)"
# "who is blocked" asks for the triage list, not for an account called "who".
_NOT_WHO = r"(?!(?:who|wie)\b)"

# --- Reports of bounced mail -------------------------------------------------------------------------------
# Markers of a pasted non-delivery report (Outlook / Exchange Online wording, English and Dutch). Any one of
# them anywhere in the message makes it a report: these phrases are not what people type about other things.
_NDR = (
    r"(?:(?<![\d.])5\.1\.8(?![\d])"
    r"|bad\s+outbound\s+sender"
    # Its neighbours in Microsoft's NDR reference (dialogs.ndr says which one a paste is): with the SMTP reply
    # code, or in their own words.
    r"|\b55\d[\s-]+5\.(?:1\.90|2\.2|7\.50[123]|7\.70[58]|7\.750|7\.23[23])(?![\d]|\.\d)"
    r"|reached\s+your\s+daily\s+limit\s+for\s+message\s+recipients"
    r"|submission\s*quota(?:\s+was)?\s*exceeded"
    r"|access\s+denied,\s+(?:spam\s+abuse\s+detected|banned\s+sender|tenant\s+has\s+exceeded\s+threshold"
    r"|traffic\s+not\s+accepted\s+from\s+this\s+ip)"
    r"|sending\s+from\s+unregistered\s+domain"
    r"|tenant\s+external\s+recipient\s+rate\s+limit"
    r"|dagelijkse\s+limiet\s+voor\s+geadresseerden"
    r"|slechte\s+uitgaande\s+afzender"
    r"|niet\s+als\s+(?:een\s+)?geldige\s+afzender\s+(?:bent\s+)?herkend"
    r"|(?:weren't|were\s+not|not)\s+recognized\s+as\s+a\s+valid\s+sender"
    r"|delivery\s+has\s+failed\s+to\s+these\s+recipients"
    r"|your\s+message\s+(?:couldn't|could\s+not|can't|cannot|wasn't|was\s+not)\s+(?:be\s+)?delivered"
    r"|^undeliverable:"
    r"|delivery\s+status\s+notification\s+\(failure\)"
    r"|mail\s+delivery\s+(?:failed|subsystem)"
    r"|ongeldige\s+uitgaande\s+afzender"
    r"|niet\s+(?:bent\s+)?herkend\s+als\s+(?:een\s+)?geldige\s+afzender"
    r"|kan\s+niet\s+worden\s+(?:bezorgd|afgeleverd)"
    r"|kon\s+niet\s+worden\s+(?:bezorgd|afgeleverd)"
    r"|(?:de\s+)?bezorging\s+(?:aan\s+deze\s+geadresseerden\s+of\s+groepen\s+)?is\s+mislukt"
    r"|^onbestelbaar:)"
)
# The speaker's own words: short, first person, about mail, about it failing.
_ME = r"\b(?:i|i'm|im|i've|ive|me|my|mine|we|our|us|ik|mijn|mij|me|m'n|we|wij|ons|onze)\b"
_MAIL_WORD = (
    r"(?:\b(?:e-?mails?|emails?|mails?|mailtjes?|e-?mailtjes?|berichten|bericht|messages?|outlook|"
    r"mailbox|postvak|mailen|e-?mailen|emailen|ndr|bounce\s+message|foutbericht)\b)"
)
_FAILURE_WORD = (
    r"(?:\b(?:bounc(?:e|es|ed|ing)|comes?\s+back|coming\s+back|came\s+back|returned|rejected|refused|"
    r"undeliverable|not\s+delivered|won't\s+(?:go|send)|doesn't\s+(?:go|send)|don't\s+(?:go|send)|"
    r"isn't\s+(?:going|sending)|aren't\s+(?:going|sending)|not\s+(?:going\s+out|sending)|"
    r"(?:can't|cannot|can\s+not|cant|unable\s+to|not\s+able\s+to)\s+(?:send|e-?mail|mail)|"
    r"blocked|restricted|stuck|fail(?:s|ed|ing)?|"
    r"terug|geweigerd|geblokkeerd|beperkt|mislukt|"
    r"niet\s+(?:meer\s+)?(?:versturen|verzenden|sturen|verstuurd|verzonden|bezorgd|afgeleverd|aan|weg|mailen|"
    r"e-?mailen)|"
    r"kan\s+(?:niet|geen)|lukt\s+niet|gaat\s+niet|stuitert|bouncet|bouncen)\b)"
)
_OWN_WORDS = rf"(?=.{{1,300}}$)(?=.*{_ME})(?=.*{_MAIL_WORD})(?=.*{_FAILURE_WORD})"
# The investigate command with someone else's account ("check Megan, her mail bounces") is not a report:
# this is the first investigate pattern's own prefix, so the two can never both match.
_INVESTIGATE_OTHER = (
    r"(?:investigate|check|look into|look up|lookup|onderzoek|controleer)(?:\s+(?:account|user|gebruiker))?"
    rf"\s+{_NOT_SELF}"
)
# The second investigate pattern ("<x> is blocked") steps aside for a pasted bounce and for the own words.
_NO_REPORT = rf"(?!.*{_NDR})(?!{_OWN_WORDS})"
# "check the tenant" / "controleer de tenant" is the pre-flight (diagnose), not an account called "tenant".
_TENANT_CHECK = r"(?!(?:check|controleer)\s+(?:the\s+|de\s+)?tenant$)"
# "unblock all" is the triage card's bulk unblock, not an account called "all".
_NOT_EVERYONE = r"(?!(?:all|everyone|everybody|alle|allemaal|iedereen)\b)"
# "is X compromised?" / "is X gehackt?": the words that ask whether an account was taken over.
_TAKEN_OVER = (r"(?:compromised|hacked|breached|taken\s+over|safe|gehackt|gehacked|gecompromitteerd|gekaapt|"
               r"overgenomen|veilig)")
# "the account of X" / "het account van X" / "X's account": only X is the account.
_ACCOUNT_OF = r"(?:(?:the\s+)?(?:account|mailbox)\s+of\s+|(?:het\s+)?(?:account|postvak)\s+van\s+)?"
_ACCOUNT_SUFFIX = r"(?:'s?\s+(?:account|mailbox))?"

_PATTERNS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    (Intent.INVESTIGATE, re.compile(
        r"^(?!.*" + _NDR + r")" + _TENANT_CHECK + r"(?:investigate|check|look into|look up|lookup|onderzoek|controleer)"
        r"(?:\s+(?:account|user|gebruiker))?"
        rf"(?:\s+{_NOT_SELF}(?P<arg>.+))?$", re.IGNORECASE)),
    (Intent.INVESTIGATE, re.compile(
        rf"^{_NO_REPORT}{_NOT_SELF}{_NOT_WHO}(?P<arg>[^\s].*?)\s+(?:is|has been|was|got|is\s+being|wordt|werd)\s+"
        r"(?:blocked|restricted|geblokkeerd|beperkt)$", re.IGNORECASE)),
    # "is X compromised?", "has X been hacked?", "is megan gehackt?", "is het account van X gecompromitteerd?"
    (Intent.INVESTIGATE, re.compile(
        rf"^{_NO_REPORT}(?:is|was|has|have|got|werd|wordt|is\s+er)\s+{_ACCOUNT_OF}{_NOT_SELF}{_NOT_WHO}"
        rf"(?P<arg>[^\s].*?){_ACCOUNT_SUFFIX}\s+(?:been\s+|really\s+|echt\s+)?{_TAKEN_OVER}$", re.IGNORECASE)),
    (Intent.SECURE, re.compile(
        r"^(?!.*" + _NDR + r")(?:secure|lock\s+down|protect|beveilig|beveiligen|bescherm)"
        r"(?:\s+(?:(?:the|de)\s+)?(?:account|user|gebruiker)|\s+het\s+account(?:\s+van)?)?"
        rf"(?:\s+{_NOT_SELF}{_NOT_EVERYONE}(?P<arg>.+))?$", re.IGNORECASE)),
    (Intent.UNBLOCK, re.compile(
        r"^(?!.*" + _NDR + r")(?:unblock|release|deblokkeer|deblokkeren|vrijgeven|geef\s+vrij)"
        r"(?:\s+(?:(?:the|de)\s+)?(?:account|user|sender|gebruiker|afzender)|\s+het\s+account(?:\s+van)?)?"
        rf"(?:\s+{_NOT_SELF}{_NOT_EVERYONE}(?P<arg>.+))?$", re.IGNORECASE)),
    (Intent.REPORT_BOUNCE, re.compile(rf"^(?=.*{_NDR}).*$", re.IGNORECASE)),
    (Intent.REPORT_BOUNCE, re.compile(rf"^(?!{_INVESTIGATE_OTHER})(?!.*{_NDR}){_OWN_WORDS}.*$", re.IGNORECASE)),
    (Intent.REPORT_BOUNCE, re.compile(
        r"^(?:my mail bounces|mail bounces|bounced mail|bounce|bounces|i got a bounce|ndr|"
        r"mijn mail komt terug|mail komt terug|foutmelding bij mailen|ik kan niet mailen|niet kunnen mailen)$",
        re.IGNORECASE)),
    (Intent.STATUS, re.compile(
        r"^(?:status|my status|case status|report status|my case|my report|"
        r"(?:what's|what is|how's|how is)\s+(?:the\s+status\s+of\s+)?(?:my|the)\s+(?:case|report|ticket)"
        r"(?:\s+(?:going|doing))?|"
        r"(?:what's|what is)\s+(?:the|my)\s+status|any\s+(?:news|updates?)|is\s+there\s+any\s+news|"
        r"(?:can|may)\s+i\s+send\s+(?:e-?mail|mail)(?:\s+again)?|am\s+i\s+(?:still\s+)?(?:blocked|restricted)|"
        r"mijn status|status van mijn (?:melding|zaak|ticket)|mijn melding|mijn zaak|"
        r"(?:wat|hoe)\s+is\s+mijn\s+status|wat\s+is\s+de\s+status|"
        r"(?:kan|mag)\s+ik\s+(?:weer|alweer|al)\s+(?:mailen|e-?mailen|mail\s+versturen)|"
        r"ben\s+ik\s+(?:nog\s+)?(?:geblokkeerd|beperkt)|"
        r"hoe staat het(?:\s+(?:ervoor|met mijn (?:melding|zaak|ticket)))?|"
        r"(?:is er )?(?:al )?nieuws|nog nieuws)$", re.IGNORECASE)),
    (Intent.ALERTS_HERE, re.compile(
        r"^(?:(?:use|set)\s+this\s+channel\s+(?:for|as\s+the)\s+(?:the\s+)?alerts?(?:\s+channel)?|"
        r"(?:send|post|put)\s+(?:the\s+)?alerts\s+(?:here|to\s+this\s+channel|in\s+this\s+channel)|"
        r"alerts\s+here|alerts\s+in\s+this\s+channel|alert\s+channel\s+here|"
        r"gebruik\s+dit\s+kanaal\s+voor\s+(?:de\s+)?(?:meldingen|waarschuwingen|alerts)|"
        r"(?:stuur|plaats|zet)\s+(?:de\s+)?(?:meldingen|waarschuwingen|alerts)\s+"
        r"(?:hier|naar\s+dit\s+kanaal|in\s+dit\s+kanaal)|"
        r"(?:meldingen|waarschuwingen|alerts)\s+(?:hier|in\s+dit\s+kanaal))$", re.IGNORECASE)),
    (Intent.ALERTS_OFF, re.compile(
        r"^(?:alerts\s+off|(?:turn|switch)\s+(?:off\s+(?:the\s+)?alerts|(?:the\s+)?alerts\s+off)|"
        r"(?:stop|disable)\s+(?:the\s+)?alerts|no\s+more\s+alerts|"
        r"(?:meldingen|waarschuwingen|alerts)\s+uit|"
        r"zet\s+(?:de\s+)?(?:meldingen|waarschuwingen|alerts)\s+uit|"
        r"(?:stop|stop\s+met)\s+(?:de\s+)?(?:meldingen|waarschuwingen|alerts)|"
        r"geen\s+(?:meldingen|waarschuwingen|alerts)\s+meer)$", re.IGNORECASE)),
    (Intent.ALERTS_WHERE, re.compile(
        r"^(?:where\s+do\s+(?:the\s+)?alerts\s+go|where\s+are\s+(?:the\s+)?alerts\s+(?:sent|posted|going)|"
        r"which\s+channel\s+(?:gets|receives)\s+(?:the\s+)?alerts|alerts\s+where|where\s+alerts|"
        r"waar\s+gaan\s+(?:de\s+)?(?:meldingen|waarschuwingen|alerts)\s+(?:heen|naartoe)|"
        r"waar\s+komen\s+(?:de\s+)?(?:meldingen|waarschuwingen|alerts)(?:\s+terecht)?|"
        r"welk\s+kanaal\s+krijgt\s+(?:de\s+)?(?:meldingen|waarschuwingen|alerts))$", re.IGNORECASE)),
    (Intent.NOTIFY_IT, re.compile(
        r"^(?:(?:please\s+)?(?:notify|tell|inform|alert|contact)\s+it(?:\s+anyway)?|let\s+it\s+know(?:\s+anyway)?|"
        r"(?:meld|laat)\s+(?:het\s+)?(?:toch\s+)?(?:aan\s+)?it(?:\s+toch)?(?:\s+weten)?|"
        r"(?:waarschuw|informeer)\s+(?:toch\s+)?it(?:\s+toch)?|it\s+toch\s+(?:waarschuwen|inlichten|informeren))$",
        re.IGNORECASE)),
    # Every restricted account at once (staff see it, security admins act on it): whole phrases only.
    (Intent.TRIAGE, re.compile(
        r"^(?:triage|"
        r"(?:list|show(?:\s+me)?)\s+(?:(?:the|all)\s+)?(?:blocked|restricted)"
        r"(?:\s+(?:accounts|users|senders|mailboxes))?|"
        r"(?:all\s+)?(?:blocked|restricted)\s+(?:accounts|users|senders|mailboxes)|"
        r"(?:who\s+is|who's|who\s+are)\s+(?:blocked|restricted)|"
        r"which\s+(?:accounts|users)\s+are\s+(?:blocked|restricted)|"
        r"(?:lijst|toon|laat\s+zien)\s+(?:(?:de|alle)\s+)?(?:geblokkeerd|geblokkeerde|beperkte)"
        r"(?:\s+(?:accounts|gebruikers|afzenders))?|"
        r"(?:alle\s+)?(?:geblokkeerde|beperkte)\s+(?:accounts|gebruikers|afzenders)|"
        r"wie\s+(?:is|zijn)\s+(?:er\s+)?(?:geblokkeerd|beperkt)|"
        r"welke\s+(?:accounts|gebruikers)\s+zijn\s+(?:er\s+)?(?:geblokkeerd|beperkt))$", re.IGNORECASE)),
    # The tenant pre-flight (security admins): whole phrases only, so "check <account>" stays an investigation.
    (Intent.DIAGNOSE, re.compile(
        r"^(?:diagnose|diagnose\s+(?:the\s+)?tenant|check\s+(?:the\s+)?tenant|tenant\s+(?:check|diagnose)|"
        r"controleer\s+(?:de\s+)?tenant|tenant\s+controleren|diagnosticeer(?:\s+(?:de\s+)?tenant)?)$",
        re.IGNORECASE)),
    (Intent.HELP, re.compile(r"^(?:help|menu|what can you do|hulp|help me|wat kun je( doen)?)$", re.IGNORECASE)),
    (Intent.GREETING, re.compile(r"^(?:hi|hello|hey|hallo|hoi|goedemorgen|good morning|goedemiddag)$",
                                 re.IGNORECASE)),
    (Intent.CANCEL, re.compile(r"^(?:cancel|stop|quit|never ?mind|annuleer|annuleren|laat maar|stoppen)$",
                               re.IGNORECASE)),
)


def normalise(text: str) -> str:
    """NFKC, invisible characters dropped, whitespace collapsed, trailing punctuation trimmed (case kept)."""
    # NFKC can turn one character into up to 18 (U+FDFA): cap again, so no pattern ever sees more than MAX_TEXT.
    value = unicodedata.normalize("NFKC", text[:MAX_TEXT])[:MAX_TEXT]
    # Phones type typographic apostrophes ("can’t"); the patterns spell the ASCII one.
    value = value.replace("\u2019", "'").replace("\u2018", "'")
    value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cf", "Cc") or ch in "\n\t")
    value = re.sub(r"\s+", " ", value).strip()
    return value.rstrip(" .!?").strip()


def recognize(text: str | None) -> Recognized:
    """The intent of a message; `UNKNOWN` when nothing matches."""
    if not text:
        return Recognized(Intent.UNKNOWN)
    value = normalise(text)
    for intent, pattern in _PATTERNS:
        match = pattern.match(value)
        if match:
            return Recognized(intent, (match.groupdict().get("arg") or "").strip())
    return Recognized(Intent.UNKNOWN)


def matching_intents(text: str) -> list[Intent]:
    """Every intent whose pattern matches `text`, each once (for the no-ambiguity test)."""
    value = normalise(text)
    return list(dict.fromkeys(intent for intent, pattern in _PATTERNS if pattern.match(value)))


_YES = re.compile(r"^(?:y|yes|yeah|yep|sure|ok|okay|go|go ahead|do it|please do|confirm|ja|jazeker|zeker|graag|"
                  r"doe maar|ga je gang|prima|klopt|akkoord|1)$", re.IGNORECASE)
_NO = re.compile(r"^(?:n|no|nope|not now|don't|nee|neen|niet|liever niet|2)$", re.IGNORECASE)


def yes_no(text: str | None) -> bool | None:
    """True for a yes, False for a no (English or Dutch), None for anything else."""
    value = normalise(text or "")
    if _YES.match(value):
        return True
    if _NO.match(value):
        return False
    return None
