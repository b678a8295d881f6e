"""Errors raised by configuration and agent-token services."""

from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured):
    """Configuration values break the schema; the message has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Invalid configuration:\n" + "\n".join(f"  {line}" for line in problems)
        )


class OverrideError(ValueError):
    """An admin override cannot be saved (unknown key, not overridable, bad value)."""


class OverrideConflictError(OverrideError):
    """Another operator changed the key after this edit started."""


class TokenError(ValueError):
    """An agent token operation is refused."""


class DuplicateAgentError(TokenError):
    """An agent with this name exists already."""


class TokenMismatchError(TokenError):
    """The token given is not the agent's current token."""


class WeakTokenError(TokenError):
    """A new token is too short or already in use."""
