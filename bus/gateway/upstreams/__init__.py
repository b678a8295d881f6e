"""Upstream MCP servers as tools: their sessions, tools, status and health.

`client` opens one SDK session to an upstream; `pool` keeps one per upstream
open in each process and calls through it; `services` store upstreams, their
tools (Tool rows of kind mcp) and their status; `health` gives /health/ one
check per upstream.
"""
