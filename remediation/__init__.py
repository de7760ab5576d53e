"""Writes to Microsoft 365: the remediation actions, who may do what, idempotency and the audit trail."""
