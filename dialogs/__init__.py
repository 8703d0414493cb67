"""Conversations: what the bot says and shows at each step. Calls services/, draws with cards/."""
