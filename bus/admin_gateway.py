"""Admin for providers, tools, agent tokens and live capacity."""
