"""Security tests of issue 8: hostile input, who gets in, secrets in logs, several instances (docs/SECURITY.md)."""
