from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.apps import AppConfig, apps

if TYPE_CHECKING:
    from bus.gateway.pipeline import Gateway
    from bus.gateway.upstreams.pool import Pool
    from bus.store.claims import ClaimStore


class BusConfig(AppConfig):
    """Agent gateway, tool registry and the message bus.

    The long-lived objects (the claim store with its circuit breaker, the
    gateway with its state) are built here once per process and handed to
    what uses them; nothing is built at import time.
    """

    name = "bus"
    verbose_name = "Gateway and message bus"
    claims: ClaimStore
    gateway: Gateway
    upstreams: Pool

    def ready(self) -> None:
        from bus.gateway import metrics as gateway_metrics
        from bus.gateway.factory import build_gateway
        from bus.gateway.upstreams.pool import Pool
        from bus.store import metrics as store_metrics
        from bus.store.breaker import CircuitBreaker
        from bus.store.claims import ClaimStore

        self.claims = ClaimStore(breaker=CircuitBreaker())
        store_metrics.watch_breaker(lambda: self.claims.breaker_state)
        self.gateway = build_gateway(claims=self.claims)
        gateway_metrics.register_collector(self.gateway)
        # Connects nothing yet: `serve` starts it on its event loop.
        self.upstreams = Pool()


def bus_app() -> BusConfig:
    """Return the bus app with the objects built at start-up."""
    return cast(BusConfig, apps.get_app_config("bus"))
