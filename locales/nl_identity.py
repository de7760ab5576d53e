"""Dutch messages of the identity actions: removing an MFA method, revoking an app's consent (issue #17)."""

MESSAGES: dict[str, str] = {
    "step.remove_mfa_method": "Verwijder de aanmeldmethode “{method}” ({method_type}), geregistreerd op {time} "
    "vanaf {from_ip}",
    "button.remove_mfa_method": "“{method}” verwijderen",
    "gate.step.remove_mfa_method": "Aanmeldmethode “{method}” verwijderen",
    "remediation.action.remove_mfa_method": "Aanmeldmethode verwijderen",
    "note.mfa_method_removed": "Aanmeldmethode “{method}” verwijderd door {actor} op {time}",
    "confirm.remove_mfa_method": "De aanmeldmethode “{method}” van {name} ({upn}) verwijderen? Daarmee kan niet "
    "meer worden aangemeld. Was het toch van de gebruiker, dan registreert die hem opnieuw.",
    "confirm.button.remove_mfa_method": "Ja, verwijderen",
    "address.unknown": "een onbekend adres",
    "step.revoke_consent": "Trek de toestemming voor “{app}” ({scopes}) in, met de roltoewijzingen van de "
    "gebruiker voor die app",
    "button.revoke_consent": "“{app}” intrekken",
    "gate.step.revoke_consent": "Toestemming voor “{app}” intrekken",
    "remediation.action.revoke_consent": "App-toestemming intrekken",
    "note.consent_revoked": "Toestemming voor “{app}” ingetrokken door {actor} op {time}",
    "confirm.revoke_consent": "De toestemming die {name} ({upn}) aan “{app}” gaf intrekken? De app verliest de "
    "toegang die namens de gebruiker is gegeven, en de roltoewijzingen van de gebruiker voor de app worden "
    "verwijderd.",
    "confirm.button.revoke_consent": "Ja, intrekken",
    "remediation.refused.item_unknown": "Dat item heeft het onderzoek niet gevonden. Vernieuw de kaart en probeer "
    "het opnieuw.",
}
