"""The domain: provisioning rules, the request workflow and persistence. No botbuilder here."""
