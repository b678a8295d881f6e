"""Message bus services: every state change of the bus goes through these."""

from bus.services.messages import (
    SINGLE_READ_MAX_BYTES,
    FetchedPayload,
    StoredMessage,
    message_ack,
    message_expire,
    message_fetch,
    message_store,
)
from bus.services.purge import PURGE_LOCK_KEY, PurgeReport, messages_purge_expired

__all__ = [
    "PURGE_LOCK_KEY",
    "SINGLE_READ_MAX_BYTES",
    "FetchedPayload",
    "PurgeReport",
    "StoredMessage",
    "message_ack",
    "message_expire",
    "message_fetch",
    "message_store",
    "messages_purge_expired",
]
