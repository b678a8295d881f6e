"""Tool kinds and the built-in tools."""
