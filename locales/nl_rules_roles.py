"""Nederlandse teksten voor het verwijderen van een inboxregel en het afnemen van een beheerdersrol (issue #17)."""

MESSAGES: dict[str, str] = {
    # delete_rule (remediation.actions): de tweede knop bij een regel die het oordeel voorstelt uit te schakelen
    "button.delete_rule": "‘{rule}’ verwijderen",
    "gate.step.delete_rule": "Inboxregel ‘{rule}’ verwijderen",
    "remediation.action.delete_rule": "Inboxregel verwijderen",
    "note.rule_deleted": "Regel ‘{rule}’ verwijderd door {actor} op {time}",
    "step.done.delete_rule": " — verwijderd door {actor} op {time}",
    "confirm.delete_rule": "De inboxregel ‘{rule}’ van {name} ({upn}) verwijderen? Een verwijderde regel kun je niet "
    "meer aanzetten; wat hij deed blijft in het dossier van deze melding staan. Wil je hem nog nader bekijken, "
    "schakel hem dan uit.",
    "confirm.button.delete_rule": "Ja, regel verwijderen",
    "confirm.rule.every_message": "Deze regel heeft geen voorwaarden: hij werkt op elk bericht.",
    # remove_admin_role: één per beheerdersrol die het account in de periode kreeg ("Add member to role")
    "step.remove_admin_role": "Neem de beheerdersrol ‘{role}’ af, toegekend op {time} door {initiated_by}",
    "button.remove_admin_role": "‘{role}’ afnemen",
    "gate.step.remove_admin_role": "Beheerdersrol ‘{role}’ afnemen",
    "remediation.action.remove_admin_role": "Beheerdersrol afnemen",
    "note.admin_role_removed": "Beheerdersrol ‘{role}’ afgenomen door {actor} op {time}",
    "confirm.remove_admin_role": "De beheerdersrol ‘{role}’ afnemen van {name} ({upn})? Het account kreeg die tijdens "
    "het incident. Heeft het de rol echt nodig, wijs hem dan opnieuw toe in Entra zodra het account veilig is.",
    "confirm.button.remove_admin_role": "Ja, rol afnemen",
}
