"""Shared test builders: an independent signed Mold API client and CLI runners."""
