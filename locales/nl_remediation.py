"""Nederlandse berichten van de herstelfunctie (weigeringen, uitkomsten, bevestigingen, de nieuwe kaartdelen)."""

MESSAGES: dict[str, str] = {
    # Weigeringen
    "remediation.refused.other_tenant": "Deze kaart hoort bij een andere organisatie; daar kan ik hier niets mee.",
    "remediation.refused.staff_only": "Alleen IT-medewerkers kunnen deze knop gebruiken.",
    "remediation.refused.unknown_verb": "Deze knop is niet meer geldig. Vraag me opnieuw om een actuele kaart.",
    "remediation.refused.admin_only": "Alleen beveiligingsbeheerders kunnen accounts wijzigen. Jij kunt "
    "onderzoeken en vernieuwen; vraag een beveiligingsbeheerder deze stap te zetten.",
    "remediation.refused.user": "Alleen beveiligingsbeheerders kunnen accounts wijzigen. Komt je eigen mail "
    "terug, zeg dan \"mijn mail komt terug\" en ik controleer je account.",
    "remediation.refused.own_account": "Je kunt niets doen met je eigen account: vraag een andere "
    "beveiligingsbeheerder. Zo kan een gecompromitteerd beheerdersaccount zichzelf niet deblokkeren.",
    "remediation.refused.dismiss_compromised": "Dit account is als gecompromitteerd beoordeeld, dus het "
    "gebruikersrisico blijft staan tot het account veilig is.",
    "remediation.refused.unknown_case": "Deze zaak ken ik niet. Vraag me opnieuw om een actuele kaart.",
    "remediation.refused.rule_unknown": "Die inboxregel heeft het onderzoek niet gevonden. Vernieuw de kaart en "
    "probeer het opnieuw.",
    "remediation.refused.not_restricted": "Bij de laatste controle was dit account niet geblokkeerd, dus er is "
    "niets te deblokkeren. Vernieuw om opnieuw te controleren.",
    "remediation.refused.closed": "Deze zaak is gesloten.",
    "remediation.refused.no_snapshot": "Ik heb de gegevens van deze zaak niet meer. Vernieuw eerst de kaart.",
    "remediation.refresh.account_gone": "Dit account bestaat niet meer in de directory.",
    "remediation.refresh.running": "Nog bezig met onderzoeken (Microsoft 365 antwoordt traag). Deze kaart wordt "
    "bijgewerkt zodra de bevindingen binnen zijn.",
    "remediation.refresh.failed": "Ik kon Microsoft 365 niet bereiken om opnieuw te onderzoeken. Probeer het over "
    "een paar minuten nog eens.",
    "remediation.permission_unknown": "een machtiging of rol",
    "remediation.working": "Bezig — deze kaart wordt bijgewerkt: Microsoft 365 antwoordt traag, en de kaart toont "
    "het resultaat zodra het binnen is.",
    "remediation.store.not_recorded": "Kon de actie niet vastleggen, dus er is niets gedaan: de database van de bot "
    "is nu niet beschikbaar. Probeer het over een minuut opnieuw.",
    "remediation.store.outcome_not_recorded": "{action} is naar Microsoft 365 gestuurd, maar het resultaat kon niet "
    "worden vastgelegd: de database van de bot is niet beschikbaar. De bot controleert het resultaat en legt het "
    "vast zodra de database terug is; vernieuw de kaart later.",
    # De acties bij naam
    # Meldingen onder de kop van de kaart
    "notice.done": "Gedaan: {action}.",
    "notice.pending": "Gedeblokkeerd door {actor} op {time}. Verzenden werkt meestal binnen een uur weer, "
    "uiterlijk na 24 uur; deze kaart verandert zodra het zover is.",
    "notice.restored": "Verzenden werkt weer sinds {time}: het account staat niet meer onder Restricted entities.",
    "notice.still_listed": "Nog steeds onder Restricted entities, 24 uur na het deblokkeren op {time}. Kijk bij "
    "Restricted entities in Microsoft Defender, of neem contact op met Microsoft-ondersteuning.",
    "notice.already_unblocked": "Al gedeblokkeerd door {actor} op {time}; er is niets opnieuw naar Microsoft 365 "
    "gestuurd.",
    "notice.already_done": "{action}: al gedaan door {actor} op {time}; er is niets opnieuw gedaan.",
    "notice.in_progress": "Iemand anders doet dit op dit moment. Vernieuw zo meteen om het resultaat te zien.",
    "notice.other_failed": "Iemand anders probeerde dit net en het is mislukt (zie de laatste acties).",
    "notice.gated": "Deblokkeren wacht tot de verplichte stappen gedaan zijn. Nog te doen: {steps}. Of geef een "
    "reden om toch te deblokkeren.",
    "notice.reason_missing": "Geef een reden om toch te deblokkeren; die wordt bewaard in het auditlogboek.",
    "notice.reason_too_short": "De reden is te kort: schrijf minstens {count} zichtbare tekens (spaties en "
    "onzichtbare tekens tellen niet mee). De reden wordt bewaard in het auditlogboek.",
    "notice.closed": "Deze zaak is gesloten.",
    "notice.support_link": "Een ondersteuningsaanvraag bij Microsoft openen",
    "notice.failed.unblock_limit": "Microsoft weigerde het deblokkeren: dit account is al het maximale aantal "
    "keren gedeblokkeerd. Alleen Microsoft-ondersteuning kan dit account nu nog deblokkeren.",
    "notice.failed.on_premises": "{action} is geweigerd: dit account wordt gesynchroniseerd vanuit de on-premises "
    "Active Directory, dus Microsoft 365 kan het niet wijzigen. Stel het wachtwoord opnieuw in (of schakel het "
    "account uit) in de on-premises Active Directory; de wijziging komt met de volgende synchronisatie in "
    "Microsoft 365.",
    "notice.failed.permission": "{action} is mislukt: de app van de bot mist {permission}. Een beheerder moet die "
    "toekennen (app-machtigingen in Entra ID of een Exchange-rol) en dan opnieuw proberen.",
    "notice.failed.license": "{action} is mislukt: de tenant mist de benodigde licentie ({license}).",
    "notice.failed.throttled": "{action} is mislukt: Microsoft 365 vroeg de bot het rustiger aan te doen. Er is "
    "niets veranderd; probeer het over een paar minuten opnieuw.",
    "notice.failed.upstream": "{action} is mislukt: Microsoft 365 antwoordde na meerdere pogingen niet. Niets is "
    "als gewijzigd bevestigd; probeer het over een paar minuten opnieuw.",
    "notice.failed.unconfirmed": "{action}: Microsoft 365 heeft het niet op tijd bevestigd, dus het kan wel of niet "
    "zijn gebeurd. Controleer het in Microsoft 365 (of vernieuw de kaart) voordat je het opnieuw probeert.",
    "notice.failed.not_found": "{action} is mislukt: Microsoft 365 kent het account of de regel niet meer. "
    "Vernieuw de kaart.",
    "notice.failed.rejected": "{action} is mislukt: Microsoft 365 weigerde het verzoek.",
    "notice.failed.error": "{action} is mislukt. De details staan in het logboek van de bot en in het "
    "auditlogboek.",
    # Laatste acties
    "note.failed_action": "{action} door {actor} mislukt op {time}",
    "note.unknown_action": "{action} door {actor} op {time} is niet bevestigd; of het is uitgevoerd, is onbekend. "
    "Controleer het in Microsoft 365 voordat je het opnieuw probeert",
    "note.restored": "Verzenden werkt weer, bevestigd op {time}",
    "note.unblock_expired": "24 uur na het deblokkeren nog steeds geblokkeerd, gecontroleerd op {time}",
    # De poort
    "gate.missing": "Nog te doen: {steps}",
    "gate.step.disable_rule": "Inboxregel ‘{rule}’ uitschakelen",
    # "Gedaan, ik heb het gecontroleerd": stappen die iemand in een Microsoft-portal doet
    "button.review_mfa_methods": "Gedaan, ik heb het gecontroleerd",
    "button.review_consents": "Gedaan, ik heb het gecontroleerd",
    "remediation.action.review_mfa_methods": "MFA-methoden controleren",
    "remediation.action.review_consents": "App-toestemmingen controleren",
    "note.mfa_methods_reviewed": "MFA-methoden gecontroleerd door {actor} op {time}",
    "note.consents_reviewed": "App-toestemmingen gecontroleerd door {actor} op {time}",
    "remediation.refused.step_unknown": "Om die stap vroeg het onderzoek niet. Vernieuw de kaart en probeer het "
    "opnieuw.",
    "restriction.restored": "Verzenden werkt weer sinds {time}: het account is niet langer geblokkeerd",
    # Nieuwe knoppen en regels
    "step.dismiss_risk": "Identity Protection beoordeelt deze gebruiker als risicovol ({level}), en het onderzoek "
    "bevestigt geen compromittering: negeer het risico als je het daarmee eens bent.",
    # Het IT-bericht aan de gebruiker
    "itnote.title": "Bericht aan de gebruiker",
    "itnote.label": "Een bericht voor de eigenaar van het account (de bot stuurt het in diens chat)",
    "itnote.placeholder": "Bijvoorbeeld: we hebben je account beveiligd; kies een nieuw wachtwoord bij je "
    "volgende aanmelding.",
    "itnote.button": "Naar de gebruiker sturen",
    # Bevestigingskaart
    "confirm.title": "Bevestig dit",
    "confirm.cancel": "Annuleren",
    "confirm.override_label": "Reden om toch te deblokkeren (bewaard in het auditlogboek)",
    "confirm.open_steps": "Verplichte stappen die nog openstaan (het auditlogboek bewaart ze met je reden): {steps}",
    "case.unavailable": "Ik heb de gegevens van deze zaak niet meer. Vernieuw om het account opnieuw te "
    "onderzoeken.",
    # cards/history.py: een onderzoek na herstel opent een nieuwe zaak; de kaart verwijst naar de vorige.
    "case.previous.unblocked": "Vorige zaak: afgerond op {time} (gedeblokkeerd door {actor}).",
    "case.previous.ended": "Vorige zaak: gesloten op {time}.",
    "case.previous.button": "Vorige zaak openen",
    # Issue #17: mailboxdelegatie en verouderde protocollen (remediation.actions)
    "notice.already_removed": "{action}: volgens Microsoft 365 is het al weg, dus er is niets gewijzigd.",
    "step.remove_delegation": "Trek de toegang van {delegate} tot de mailbox in",
    "button.remove_delegation": "{delegate} verwijderen",
    "gate.step.remove_delegation": "Mailboxtoegang van {delegate} intrekken",
    "remediation.action.remove_delegation": "Mailboxtoegang intrekken",
    "note.delegation_removed": "Mailboxtoegang ingetrokken door {actor} op {time}",
    "button.disable_legacy_protocols": "Verouderde protocollen uitzetten",
    "remediation.action.disable_legacy_protocols": "Verouderde protocollen uitzetten",
    "note.legacy_protocols_disabled": "Verouderde protocollen uitgezet door {actor} op {time}",
    "confirm.disable_legacy_protocols": "IMAP, POP en SMTP AUTH uitzetten voor {name} ({upn})? Een printer, "
    "scanner of oudere mailapp die met het wachtwoord van dit account mail verstuurt of ophaalt, werkt dan niet meer "
    "tot die modern aanmeldt.",
    "confirm.button.disable_legacy_protocols": "Ja, uitzetten",
}
