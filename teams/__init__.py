"""The Teams surface: the activity handler, who is speaking, proactive messages."""
