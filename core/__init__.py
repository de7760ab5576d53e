"""The application core: cases, the press of any verb, triage, the watch's and the notices' decisions.

It knows no bot SDK: it takes plain records (a `Speaker`, button data, a conversation reference as a dict) and
returns outcomes (`core.presses.Answer`); what it needs from the outside world are the ports in `core/ports.py`.
The Teams edge (`teams/`, `dialogs/`) turns activities into these records and outcomes into replies.
"""
