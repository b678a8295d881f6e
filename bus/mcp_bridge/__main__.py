"""`python -m bus.mcp_bridge --url ws://HOST:PORT/ws/ --token-env VAR`."""

from bus.mcp_bridge.cli import main

raise SystemExit(main())
