"""English messages of the remediation feature."""

MESSAGES: dict[str, str] = {
}
