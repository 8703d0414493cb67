"""The Teams edge: settings, HTTP routes, adapter, activity handler. Knows the Agents SDK, not the rules."""
