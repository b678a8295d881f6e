"""The MCP stdio bridge: an MCP server over stdio that calls the gateway's WebSocket.

For MCP clients that only launch local servers (PROTOCOL.md "MCP"). Run it as
``python -m bus.mcp_bridge`` or ``python manage.py mcp_bridge``; it needs no
Django settings, only the gateway's URL and an agent token.
"""
