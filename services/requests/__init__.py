"""Provisioning requests: the persisted state machine every change of a phone user goes through
(drafts, the add-user form rules, decisions, the provisioning pipeline, the Global Admin sign-in)."""
