"""edgekit.exporters: turn an SLM into a validated edgekit bundle (needs the 'export' extra)."""
