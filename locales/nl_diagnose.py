"""Dutch messages of `diagnose`: the tenant pre-flight shown to security admins in chat."""

MESSAGES: dict[str, str] = {
    "diagnose.title": "Tenantcontrole",
    "diagnose.summary.ok": "Alles wat de bot nodig heeft is er: alle {count} functies zijn beschikbaar.",
    # {count} is het aantal dat ONTBREEKT (de meervoudsvorm volgt dat), {total} het aantal gecontroleerde.
    "diagnose.summary.missing": "{count} van de {total} functies zijn niet beschikbaar. Elke regel zegt waarom en "
    "welke regel van docs/DEPLOY.md het oplost.",
    "diagnose.licences": "Licenties: {licences}",
    "diagnose.licence.yes": "{name} ja",
    "diagnose.licence.no": "{name} **nee**",
    "diagnose.licence.unknown": "{name} onbekend",
    "diagnose.status.available": "beschikbaar",
    "diagnose.status.available_via": "beschikbaar (gelezen via {via})",
    "diagnose.status.unavailable": "niet beschikbaar",
    "diagnose.fix": "oplossing: {fix}",
    "diagnose.problem.token": "geen token ({missing})",
    "diagnose.problem.permission": "machtiging {missing} niet verleend",
    "diagnose.problem.licence": "geen licentie {missing}",
    "diagnose.problem.exchange_role": "de Exchange-rol van de app mag {missing} niet uitvoeren",
    "diagnose.problem.entra_role": "Entra-rol {missing} is niet aan de app toegewezen",
    "diagnose.problem.not_provisioned": "berichttracering is niet ingericht in de tenant",
    "diagnose.problem.unknown": "{missing} kon niet worden gecontroleerd",
    "diagnose.footer": "Zojuist alleen-lezend gecontroleerd. Op de opdrachtregel geeft make check-tenant dezelfde "
    "tabel.",
    "diagnose.fallback": "Tenantcontrole: {count} van de {total} functies niet beschikbaar",
    "diagnose.refused": "Alleen beveiligingsbeheerders kunnen de tenant controleren (diagnose).",
    "diagnose.not_supported": "Deze tenant kan niet vanuit de chat worden gecontroleerd; voer make check-tenant uit "
    "op de server.",
    "diagnose.feature.find_account": "Account zoeken",
    "diagnose.feature.tenant_domains": "Domeinen van de tenant",
    "diagnose.feature.restriction": "Blokkadestatus",
    "diagnose.feature.unblock": "Deblokkeren",
    "diagnose.feature.forwarding": "Doorsturen van de mailbox",
    "diagnose.feature.remove_forwarding": "Doorsturen verwijderen",
    "diagnose.feature.inbox_rules": "Postvakregels",
    "diagnose.feature.hidden_inbox_rules": "Verborgen postvakregels",
    "diagnose.feature.mailbox_delegates": "Gemachtigden van de mailbox",
    "diagnose.feature.audit_changes": "Wijzigingen uit het auditlogboek",
    "diagnose.feature.transport_rules": "E-mailstroomregels",
    "diagnose.feature.app_changes": "Nieuwe apps en toestemmingen",
    "diagnose.feature.mail_folders": "Mailmappen",
    "diagnose.feature.sign_ins": "Aanmeldlogboek",
    "diagnose.feature.directory_audits": "Auditlogboek van de directory",
    "diagnose.feature.risky_users": "Gebruikersrisico (Identity Protection)",
    "diagnose.feature.risk_detections": "Risicodetecties (Identity Protection)",
    "diagnose.feature.mfa_methods": "MFA-methoden",
    "diagnose.feature.mfa_registration": "MFA-registratie",
    "diagnose.feature.app_consents": "App-toestemmingen",
    "diagnose.feature.admin_roles": "Beheerrollen en groepen",
    "diagnose.feature.alerts": "Defender-waarschuwingen",
    "diagnose.feature.revoke_sessions": "Overal afmelden",
    "diagnose.feature.block_sign_in": "Aanmelden blokkeren",
    "diagnose.feature.force_password_change": "Nieuw wachtwoord vereisen",
    "diagnose.feature.message_trace": "Berichttracering",
}

# De enkelvoudsvormen (zie locales/__init__.py): gekozen als er precies één functie ontbreekt.
ONE: dict[str, str] = {
    "diagnose.summary.missing": "{count} van de {total} functies is niet beschikbaar. De regel zegt waarom en welke "
    "regel van docs/DEPLOY.md het oplost.",
}
