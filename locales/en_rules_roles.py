"""English messages of deleting an inbox rule and taking an admin role from an account (issue #17)."""

MESSAGES: dict[str, str] = {
    # delete_rule (remediation.actions): the second button on a rule the verdict offers to disable
    "button.delete_rule": "Delete “{rule}”",
    "gate.step.delete_rule": "Delete inbox rule “{rule}”",
    "remediation.action.delete_rule": "Delete inbox rule",
    "note.rule_deleted": "Rule “{rule}” deleted by {actor} at {time}",
    "step.done.delete_rule": " — deleted by {actor} at {time}",
    "confirm.delete_rule": "Delete the inbox rule “{rule}” of {name} ({upn})? A deleted rule cannot be turned back "
    "on; what it did stays in this case's record. To keep it for a closer look, disable it instead.",
    "confirm.button.delete_rule": "Yes, delete the rule",
    "confirm.rule.every_message": "It has no conditions: it acts on every message.",
    # remove_admin_role: one per admin role an "Add member to role" audit in the window gave the account
    "step.remove_admin_role": "Take the admin role “{role}”, given {time} by {initiated_by}",
    "button.remove_admin_role": "Remove “{role}”",
    "gate.step.remove_admin_role": "Take the admin role “{role}”",
    "remediation.action.remove_admin_role": "Remove admin role",
    "note.admin_role_removed": "Admin role “{role}” removed by {actor} at {time}",
    "confirm.remove_admin_role": "Take the admin role “{role}” from {name} ({upn})? The account was given it during "
    "the incident. Add it again in Entra once the account is secure, if it needs it.",
    "confirm.button.remove_admin_role": "Yes, remove the role",
}
