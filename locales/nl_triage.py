"""Dutch messages of triage: de lijst van alle geblokkeerde accounts en het in één keer deblokkeren."""

MESSAGES: dict[str, str] = {
    "triage.title": "Geblokkeerde accounts ({count})",
    "triage.empty": "Er is op dit moment geen account dat geen mail mag versturen.",
    "triage.summary": "{compromised} misbruikt · {suspicious} verdacht · {not_checked} niet gecontroleerd · "
    "{no_signs} geen tekenen van misbruik",
    "triage.page": "Pagina {page} van {pages} · ernstigste eerst, dan het langst geblokkeerd eerst",
    "triage.verdict.compromised": "Misbruikt",
    "triage.verdict.suspicious": "Verdacht",
    "triage.verdict.not_checked": "Niet gecontroleerd",
    "triage.verdict.no_signs": "Geen tekenen van misbruik",
    "triage.since": " · geblokkeerd sinds {since}",
    "triage.since_unknown": " · geblokkeerd (sinds onbekend)",
    "triage.pending": " · deblokkering loopt",
    "triage.reason.no_account": "Geen account in de directory verstuurt vanaf dit adres.",
    "triage.reason.not_investigated": "Nog niet onderzocht: vraag opnieuw om \"triage\" om het te controleren.",
    "triage.reason.failed": "Het onderzoek is mislukt; open het account met \"onderzoek\" om het opnieuw te "
    "proberen.",
    "triage.staff_note": "Alleen beveiligingsbeheerders kunnen accounts vanuit deze lijst deblokkeren.",
    "triage.own_left_out": "Je eigen account doet niet mee met het deblokkeren: vraag een andere "
    "beveiligingsbeheerder.",
    "triage.button.next": "Volgende",
    "triage.button.previous": "Vorige",
    "triage.button.unblock_all": "Alles zonder tekenen van misbruik deblokkeren ({count})",
    "triage.button.back": "Terug naar de lijst",
    "triage.button.unblock_all_lifting": "Alles zonder tekenen van misbruik deblokkeren ({count}; vervalt "
    "vanzelf: {lifting})",
    "triage.button.open": "Openen",
    "triage.button.unblock": "Deblokkeren",
    "triage.lifts": "De blokkade vervalt vanzelf op {time}.",
    "triage.confirm.lifting": "Bij deze accounts vervalt de blokkade vanzelf. Laat ze liever zo: Microsoft staat "
    "maar een paar deblokkeringen per account toe, en nu deblokkeren kost er een.",
    "triage.confirm.lifts_at": " · vervalt vanzelf op {time}",
    "triage.confirm.button_rest": "Die laten, de rest deblokkeren ({count})",
    "triage.confirm.button_all": "Alles deblokkeren ({count}), die ook",
    "triage.fallback": "Geblokkeerde accounts: {count}",
    "triage.progress.title": "Ik controleer {count} geblokkeerde accounts…",
    "triage.progress.title_any": "Ik controleer de geblokkeerde accounts…",
    "triage.progress.sources": "Per account lees ik de blokkade, regels en doorsturen in het postvak, aanmeldingen, "
    "Identity Protection, MFA-methoden, toestemmingen voor apps en Defender-waarschuwingen. Deze kaart wordt de "
    "lijst zodra ik klaar ben.",
    "triage.unblock.running": "Ik deblokkeer {count} accounts; deze kaart toont het resultaat als alles klaar is.",
    "triage.started": "Ik zet de geblokkeerde accounts op een rij…",
    "triage.unreachable": "Ik kon Microsoft 365 niet bereiken om de geblokkeerde accounts op te halen. Probeer het "
    "over een paar minuten opnieuw.",
    # Weigeringen
    "triage.refused.user": "Alleen IT-medewerkers en beveiligingsbeheerders kunnen de lijst van geblokkeerde "
    "accounts zien. Komt je eigen mail terug? Zeg dan \"mijn mail komt terug\" en ik controleer je account.",
    "triage.refused.admin_only": "Alleen beveiligingsbeheerders kunnen accounts deblokkeren. Je kunt de lijst wel "
    "zien; vraag een beveiligingsbeheerder om te deblokkeren.",
    "triage.refused.bad_data": "Deze knop is niet meer geldig. Vraag opnieuw om \"triage\" voor een actuele lijst.",
    # Bevestiging
    "triage.confirm.title": "{count} accounts zonder tekenen van misbruik deblokkeren?",
    "triage.confirm.body": "Elk account hieronder gaat van Restricted entities af, gecontroleerd en vastgelegd "
    "zoals bij één deblokkering. Microsoft staat maar een paar deblokkeringen per account toe, dus bekijk de lijst "
    "eerst.",
    "triage.confirm.more": "… en nog {count}.",
    "triage.confirm.changed": "De lijst is veranderd sinds je hem opende. Bekijk hem opnieuw voordat je bevestigt.",
    "triage.confirm.none": "Er wacht geen account zonder tekenen van misbruik op deblokkering.",
    "triage.confirm.button": "Ja, deblokkeer {count}",
    "triage.confirm.cancel": "Annuleren",
    # Resultaat
    "triage.result.title": "Deblokkeren: {unblocked} gedeblokkeerd, {skipped} overgeslagen, {failed} mislukt",
    "triage.result.unblocked": "Gedeblokkeerd: versturen lukt meestal binnen een uur weer, uiterlijk na 24 uur.",
    "triage.result.skipped": "Overgeslagen: al gedeblokkeerd door {actor} op {time}.",
    "triage.result.skipped_unknown": "Overgeslagen: al gedeblokkeerd.",
    "triage.result.failed": "Mislukt: {reason}",
    "triage.failed.unblock_limit": "de limiet van Microsoft voor deblokkeren is bereikt; alleen Microsoft-support "
    "kan dit account nog deblokkeren.",
    "triage.failed.permission": "de app van de bot mist de machtiging of rol om te deblokkeren.",
    "triage.failed.throttled": "Microsoft 365 vroeg de bot het rustiger aan te doen; probeer het over een paar "
    "minuten opnieuw.",
    "triage.failed.upstream": "Microsoft 365 gaf geen antwoord; er is voor zover bekend niets veranderd. Probeer "
    "het later opnieuw.",
    "triage.failed.not_found": "Microsoft 365 kent dit adres niet meer.",
    "triage.failed.rejected": "Microsoft 365 weigerde het verzoek.",
    "triage.failed.error": "er ging iets mis; de details staan in het log van de bot en in het auditlog.",
    "triage.failed.unknown": "niet gedeblokkeerd; open de kaart van het account om te zien waarom.",
    "triage.failed.unconfirmed": "Microsoft 365 bevestigde het deblokkeren niet op tijd, dus het is misschien wel "
    "en misschien niet gebeurd; open (en vernieuw) de kaart van het account voordat je het opnieuw probeert.",
    "triage.failed.list_unreachable": "ik kon Microsoft 365 niet bereiken om de lijst opnieuw te controleren, "
    "dus er is niets gedaan. Probeer het over een paar minuten opnieuw.",
    # Hulp (beveiligingsbeheerders)
    "help.admin.triage": "In **triage** kun je ook alle accounts zonder tekenen van misbruik in één keer "
    "deblokkeren, na een bevestiging die ze opsomt.",
}

# De enkelvoudsvorm van de berichten hierboven met een aantal (`locales.t` kiest die bij aantal 1).
ONE: dict[str, str] = {
    "triage.confirm.lifting": "Bij dit account vervalt de blokkade vanzelf. Laat het liever zo: Microsoft staat "
    "maar een paar deblokkeringen per account toe, en nu deblokkeren kost er een.",
    "triage.progress.title": "Ik controleer {count} geblokkeerd account…",
    "triage.unblock.running": "Ik deblokkeer {count} account; deze kaart toont het resultaat als het klaar is.",
    "triage.confirm.title": "{count} account zonder tekenen van misbruik deblokkeren?",
}
