"""Notifications to other people: the outbox (sent by a background sender) and the conversation
references the bot keeps to reach each person."""
