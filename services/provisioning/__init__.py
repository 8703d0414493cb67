"""The provisioning side: the protocol the bot needs, the embedded demo implementation, and the
production one (the ConnecttoTeams platform, Microsoft Graph, the provider's PBX directory and partners)."""
