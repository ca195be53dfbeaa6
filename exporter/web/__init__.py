"""The web layer: connection limits, TLS and basic auth for --web.config.file."""
