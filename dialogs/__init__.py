"""Conversations: the main router and the dialogs it starts (investigate for IT, report for users)."""
