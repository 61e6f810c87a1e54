"""Renderers: plans and apply progress as text, JSON and Markdown."""
