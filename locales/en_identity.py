"""English messages of the identity actions: removing an MFA method, revoking an app's consent (issue #17)."""

MESSAGES: dict[str, str] = {
    # remove_mfa_method (remediation.actions): one per method registered in the window
    "step.remove_mfa_method": "Remove the sign-in method “{method}” ({method_type}), registered {time} from "
    "{from_ip}",
    "button.remove_mfa_method": "Remove “{method}”",
    "gate.step.remove_mfa_method": "Remove the sign-in method “{method}”",
    "remediation.action.remove_mfa_method": "Remove sign-in method",
    "note.mfa_method_removed": "Sign-in method “{method}” removed by {actor} at {time}",
    "confirm.remove_mfa_method": "Remove the sign-in method “{method}” from {name} ({upn})? It can no longer be "
    "used to sign in. If it was theirs after all, they register it again.",
    "confirm.button.remove_mfa_method": "Yes, remove it",
    "address.unknown": "an unknown address",
    # revoke_consent: one per app the user consented to themselves
    "step.revoke_consent": "Revoke the consent to “{app}” ({scopes}) and the user's role assignments for it",
    "button.revoke_consent": "Revoke “{app}”",
    "gate.step.revoke_consent": "Revoke the consent to “{app}”",
    "remediation.action.revoke_consent": "Revoke app consent",
    "note.consent_revoked": "Consent to “{app}” revoked by {actor} at {time}",
    "confirm.revoke_consent": "Revoke the consent {name} ({upn}) gave “{app}”? The app loses the access it was "
    "given on their behalf, and their role assignments for it are removed.",
    "confirm.button.revoke_consent": "Yes, revoke",
    "remediation.refused.item_unknown": "That item is not one the investigation found. Refresh the card and try "
    "again.",
}
