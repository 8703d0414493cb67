"""The domain: provisioning rules, the request workflow and persistence. No bot SDK here."""
