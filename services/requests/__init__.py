"""Provisioning requests: the persisted state machine every change of a phone user goes through
(drafts, the add-user form rules, decisions, the provisioning pipeline, the Global Admin sign-in, who
may do what); RequestService in service.py is the one object callers use."""
