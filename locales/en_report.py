"""English messages of the report feature."""

MESSAGES: dict[str, str] = {
}
