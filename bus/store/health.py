"""Health check reporting the message bus circuit breaker (on /health/)."""

import dataclasses

from health_check.base import HealthCheck
from health_check.exceptions import ServiceWarning

from bus.apps import bus_app
from bus.store.breaker import CLOSED


@dataclasses.dataclass
class MessageBusBreaker(HealthCheck):
    """Warn while the breaker is not closed: large results go inline or fail."""

    def run(self) -> None:
        state = bus_app().claims.breaker_state
        if state != CLOSED:
            raise ServiceWarning(
                f"message bus circuit breaker is {state}: large results go inline "
                "or get BUS_UNAVAILABLE"
            )
