"""Nederlandse berichten van de meldingsfunctie: meldingen van gebruikers, het IT-kanaal, waarschuwingen, notities."""

MESSAGES: dict[str, str] = {
    # De melding van de gebruiker (dialogs/report.py, cards/report.py)
    "report.checked": "Ik heb je eigen account gecontroleerd: {value}",
    "report.only_own_account": "Ik controleer alleen je eigen account, niet de andere adressen in je bericht.",
    "report.restricted.title": "Microsoft 365 heeft je account geblokkeerd voor het versturen van mail",
    "report.restricted.what": "Elk bericht dat je nu verstuurt komt terug met de fout **5.1.8**. Mail "
    "**ontvangen** werkt gewoon.",
    "report.restricted.since": "Geblokkeerd sinds {since}.",
    "report.restricted.since_unknown": "Microsoft 365 zegt niet sinds wanneer.",
    "report.restricted.why": "Dit betekent meestal dat **iemand anders je wachtwoord heeft bemachtigd** en spam "
    "vanaf je account heeft verstuurd. Microsoft 365 heeft dat gestopt om anderen te beschermen.",
    "report.it.posted": "**IT is gewaarschuwd** en gaat je account beveiligen en daarna deblokkeren.",
    "report.it.already": "**IT weet het al** en is ermee bezig. Je hoeft het niet opnieuw te melden.",
    "report.it.pending": "Ik kon IT nu niet bereiken; ik blijf het proberen. Is het dringend, bel dan de "
    "servicedesk.",
    "report.todo.title": "Wat je nu doet",
    "report.todo.password": "1. **Gebruik je oude wachtwoord nergens anders meer.** IT vraagt je een nieuw te "
    "kiezen; stuur een wachtwoord nooit per mail.",
    "report.todo.mfa": "2. **Weiger elke aanmeld- of MFA-melding die je niet zelf hebt gestart**, en vertel het "
    "IT.",
    "report.todo.meanwhile": "3. Gebruik tot je weer kunt mailen **Teams** of de **telefoon** voor dringende "
    "zaken.",
    "report.todo.later": "Zodra IT je account deblokkeert, werkt versturen meestal binnen een uur weer (hooguit "
    "24 uur). Ik laat het je hier weten. Typ **status** om te zien hoe het ervoor staat.",
    "report.ok.title": "Je account kan mail versturen",
    "report.ok.body": "Microsoft 365 heeft je account niet geblokkeerd, dus het teruggekomen bericht heeft een "
    "andere oorzaak. De gebruikelijke:",
    "report.ok.cause.address": "- **Een verkeerd adres van de ontvanger**: controleer het op tikfouten of vraag "
    "het adres opnieuw.",
    "report.ok.cause.full": "- **De mailbox van de ontvanger is vol**: probeer het later nog eens of bereik hem "
    "op een andere manier.",
    "report.ok.cause.refused": "- **De andere organisatie weigerde het bericht** (hun spamfilter of regels): het "
    "foutbericht noemt meestal hun server; vraag hen ernaar te kijken.",
    "report.ok.next": "Past geen van deze? Dan kan ik het aan IT doorgeven.",
    "report.button.notify_it": "Toch IT waarschuwen",
    "report.button.answered": "Ik heb in de chat geantwoord.",
    "report.status.title": "Je melding",
    "report.status.account": "Account: {value}",
    "report.status.open": "**IT is ermee bezig.** Je account is nog geblokkeerd voor het versturen van mail.",
    "report.status.unblock_pending": "**IT heeft je account gedeblokkeerd.** Microsoft 365 heft de blokkering op; "
    "dat duurt meestal tot een uur (hooguit 24 uur).",
    "report.status.resolved": "**Je kunt weer mail versturen.**",
    "report.status.closed": "Deze melding is gesloten.",
    "report.status.opened": "Gemeld {time}",
    "report.status.updated": "Laatst gewijzigd {time}",
    "report.status.resolved_at": "Versturen hersteld {time}",
    "report.status.ask_again": "Ik stuur je hier een bericht zodra je weer kunt mailen.",
    "report.status.none": "Je hebt geen melding bij mij. Komt je mail terug, zeg dan **mijn mail komt terug** of "
    "plak het foutbericht.",
    "report.status.can_send": "**Je kunt mail versturen.** Microsoft 365 heeft je account ({address}) niet "
    "geblokkeerd; dat heb ik net gecontroleerd. Komt er een bericht terug, zeg dan **mijn mail komt terug**.",
    "report.status.blocked": "**Microsoft 365 heeft je account geblokkeerd voor het versturen van mail.**",
    "report.status.blocked_it_knows": "IT is er al mee bezig.",
    "report.status.blocked_report": "Zeg **mijn mail komt terug**, dan zorg ik dat IT het weet en stuur ik je hier "
    "een bericht zodra je weer kunt mailen.",
    "report.private_only": "Vertel het me in onze **persoonlijke chat**: je account gaat verder niemand aan.",
    "report.unknown_user": "Ik kan in deze chat niet zien wie je bent, dus ik kan geen account controleren. "
    "Schrijf me vanuit Microsoft Teams.",
    "report.no_account": "Ik kan je account niet vinden in de directory. Neem contact op met de servicedesk.",
    "report.guest": "Je bent gast in deze organisatie: je mail wordt door je eigen organisatie verstuurd, dus ik kan "
    "het hier niet controleren. Vraag het je eigen IT-afdeling.",
    "report.no_mailbox": "Je account heeft hier geen mailbox, dus Microsoft 365 kan er geen mail van hebben "
    "geblokkeerd. Had je er wel een verwacht, neem dan contact op met de servicedesk.",
    "report.anyway.posted": "Gedaan: ik heb IT gevraagd ernaar te kijken. Ze nemen contact met je op.",
    "report.anyway.already": "IT heeft je verzoek van vandaag al; ze nemen contact met je op.",
    "report.anyway.pending": "Ik kon IT nu niet bereiken. Probeer het later nog eens of bel de servicedesk.",
    "report.resolved": "**Je kunt weer mail versturen.** Microsoft 365 heeft de blokkering van {address} "
    "opgeheven ({time}). Komt een bericht in het komende uur nog terug, wacht dan even en probeer het opnieuw; "
    "laat het me weten als het terug blijft komen.",
    "report.note": "**Een bericht van IT** ({name}) over je melding:\n\n{note}",
    # De IT-waarschuwingen (cards/alerts.py)
    "alert.title": "Geblokkeerd voor het versturen van mail",
    "alert.account": "{name} ({upn})",
    "alert.since": "Geblokkeerd sinds {since}.",
    "alert.since_unknown": "Microsoft 365 zegt niet sinds wanneer.",
    # De aankondiging bovenaan een kaart die IT ongevraagd krijgt (cards/alerts.py `announcement`)
    "alert.announce.new": "Nieuwe blokkering gevonden",
    "alert.announce.reported_by": "Gemeld door {name}",
    "alert.announce.watch": "Gevonden door de bewaking van Restricted entities, {time}.",
    "alert.announce.report": "Gemeld in een chat met de bot, {time}.",
    "alert.announce.triage": "Gevonden bij een triage, {time}.",
    "alert.investigating": "Onderzoek loopt… de bevindingen en acties vervangen deze kaart zo.",
    "alert.anyway.title": "De mail van een gebruiker komt terug",
    "alert.anyway.body": "Het account is **niet** geblokkeerd (gecontroleerd {time}), maar de gebruiker vraagt IT "
    "ernaar te kijken.",
    "alert.anyway.next": "Vraag om het foutbericht: daarin staat welke server de mail weigerde.",
    # Het IT-kanaal (teams/channels.py)
    "alerts.admins_only": "Alleen beveiligingsbeheerders kunnen kiezen waar meldingen heen gaan.",
    "alerts.staff_only": "Dat is voor IT-medewerkers. Komt je eigen mail terug, zeg dan **mijn mail komt terug**.",
    "alerts.in_channel_only": "Zeg dit in het teamkanaal waar de meldingen heen moeten, en noem mij daar "
    "(@Blocked Sender Assistant meldingen hier).",
    "alerts.here.done": "Gedaan: ik plaats een melding in dit kanaal zodra Microsoft 365 een account blokkeert. "
    "**meldingen uit** stopt ze.",
    "alerts.off.done": "Meldingen in het kanaal staan uit. Ik stuur ze als privébericht naar de "
    "beveiligingsbeheerders die mij hebben geïnstalleerd.",
    "alerts.off.none": "Er was geen meldingenkanaal ingesteld. Meldingen gaan als privébericht naar de "
    "beveiligingsbeheerders die mij hebben geïnstalleerd.",
    "alerts.where.channel": "Meldingen gaan naar het kanaal **{channel}** van het team **{team}** (gekozen door "
    "{by}, {time}).",
    "alerts.where.dm": "Er is geen meldingenkanaal ingesteld: meldingen gaan als privébericht naar de "
    "beveiligingsbeheerders die mij hebben geïnstalleerd. Een beveiligingsbeheerder kan in een teamkanaal "
    "**meldingen hier** zeggen (en mij noemen) om dat kanaal te gebruiken.",
    "alerts.where.unnamed": "(naam onbekend)",
    # De notitie van IT aan de gebruiker (de knop "Versturen" op de kaart met bevindingen)
    "sendnote.not_allowed": "Alleen IT-medewerkers kunnen notities naar gebruikers sturen.",
    "sendnote.empty": "Typ eerst een notitie.",
    "sendnote.too_long": "De notitie is te lang: hooguit {limit} tekens.",
    "sendnote.nobody": "Ik kan de gebruiker niet bereiken: die heeft nog nooit met mij gechat.",
    "sendnote.sent": "Verstuurd naar {count} personen.",
    # Issue #17: automatisch indammen (AUTO_CONTAIN) en de laatste globale beheerder van de tenant
    "notice.contained": "Automatisch ingedamd om {time}: sessies ingetrokken, aanmelden geblokkeerd. Sta aanmelden "
    "weer toe zodra het account veilig is.",
    "notice.contain_paused": "Automatisch indammen gepauzeerd: {count} accounts in het afgelopen uur. Er is niets "
    "met dit account gedaan; dam het zelf in als dat nodig is.",
    "notice.contain_failed": "Automatisch indammen is niet afgerond: zie de laatste acties. Dam het account zelf "
    "in.",
    "notice.refused.last_global_admin": "Niet uitgevoerd: dit account is de laatste globale beheerder van de "
    "tenant, en zonder dit account kan niemand de tenant nog beheren. Voeg eerst een andere globale beheerder toe.",
    "actor.automatic_containment": "automatisch indammen",
}

# De enkelvoudsvorm van de berichten hierboven met een aantal (`locales.t` kiest die bij aantal 1).
ONE: dict[str, str] = {
    "sendnote.sent": "Verstuurd naar {count} persoon.",
    "notice.contain_paused": "Automatisch indammen gepauzeerd: {count} account in het afgelopen uur. Er is niets "
    "met dit account gedaan; dam het zelf in als dat nodig is.",
}
