"""The Teams edge: settings, HTTP routes, adapter, activity handler. Knows botbuilder, not the rules."""
