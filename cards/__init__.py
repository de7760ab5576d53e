"""Adaptive Cards: pure functions from domain records to card JSON (dicts). The only place card JSON is built.

Cards are built with Microsoft's typed models (`microsoft_teams.cards`) and dumped to dicts; tenant
text goes through `cards.text` before it reaches a card.
"""
