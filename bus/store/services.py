"""Store, fetch, ack and expire claim-checked results (sync; see claims.py).

The ORM handles the metadata; payload bytes go through payload_io.
"""

import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from bus.exceptions import (
    ChecksumMismatchError,
    MessageExpiredError,
    MessageNotFoundError,
    PayloadTooLargeError,
)
from bus.models import BusEvent, Message
from bus.store import codec, payload_io
from bus.store import metrics as bus_metrics
from controlplane.config import MIB, Config
from controlplane.tokens import token_digest, token_digest_matches

logger = logging.getLogger(__name__)

# Payloads above this many bytes are verified and served in pieces (see
# message_fetch): a second decompression costs less than holding them whole.
STREAM_ABOVE_BYTES = 16 * MIB
VERIFY_PIECE_BYTES = 1 * MIB


@dataclass(frozen=True, slots=True)
class Producer:
    """Who produced a result: what its message row records besides the payload."""

    agent_id: int | None
    agent_name: str
    session_id: str
    request_id: str
    tool_name: str
    provider_name: str


@dataclass(frozen=True)
class StoredMessage:
    """What a client needs to know about a stored result."""

    transaction_id: str
    size_bytes: int
    compressed_size_bytes: int
    compression: str
    checksum: str
    expires_at: datetime


@dataclass(frozen=True)
class FetchedPayload:
    """A stored result whose bytes were checked against its SHA-256.

    `stored` holds the verified bytes as `compression` encodes them: the
    payload itself (NONE) when it was decompressed in memory, or the
    compressed bytes of a large payload, decompressed again piece by piece as
    it is served (the same bytes, whose decompression was verified).
    """

    transaction_id: str
    size_bytes: int
    checksum: str
    stored: bytes | bytearray
    compression: str = codec.NONE

    @property
    def data(self) -> bytes | bytearray:
        """Return the whole payload (decompressed now when it was streamed)."""
        if self.compression == codec.NONE:
            return self.stored
        return codec.decompress(
            self.stored, self.compression, expected_size=self.size_bytes
        )

    def pieces(self, size: int) -> Iterator[bytes | memoryview]:
        """Yield the payload in pieces of at most size bytes, one piece in memory."""
        return codec.decompressed_pieces(
            self.stored,
            self.compression,
            expected_size=self.size_bytes,
            piece_bytes=size,
        )


def payload_size_check(size: int, config: Config) -> None:
    """Raise PayloadTooLargeError when a result is over MESSAGE_BUS_MAX_PAYLOAD_MB."""
    if size > config.MESSAGE_BUS_MAX_PAYLOAD_MB * MIB:
        bus_metrics.errors_total.labels(code=PayloadTooLargeError.code).inc()
        raise PayloadTooLargeError(
            f"result of {size} bytes exceeds {config.MESSAGE_BUS_MAX_PAYLOAD_MB} MiB"
        )


def transaction_id_check(transaction_id: str) -> None:
    """Raise MessageNotFoundError for an id message_store cannot have made.

    Checked before any query: such an id names no message, and one with a NUL
    byte would fail inside the database driver (DataError) instead.
    """
    if payload_io.TRANSACTION_ID.fullmatch(transaction_id) is None:
        bus_metrics.errors_total.labels(code=MessageNotFoundError.code).inc()
        raise MessageNotFoundError(
            "no such message: a transaction_id is txn_ and 32 lowercase hex digits"
        )


def message_store(
    *, payload: bytes, producer: Producer, config: Config
) -> StoredMessage:
    """Compress, checksum and store a result; raise PayloadTooLargeError over limit."""
    payload_size_check(len(payload), config)
    compression = config.MESSAGE_BUS_COMPRESSION
    checksum = hashlib.sha256(payload).hexdigest()
    compressed = codec.compress(payload, compression)
    now = timezone.now().replace(microsecond=0)
    expires_at = now + timedelta(hours=config.MESSAGE_BUS_TTL_HOURS)
    stored = StoredMessage(
        transaction_id=f"{payload_io.TRANSACTION_PREFIX}{uuid.uuid4().hex}",
        size_bytes=len(payload),
        compressed_size_bytes=len(compressed),
        compression=compression,
        checksum=checksum,
        expires_at=expires_at,
    )
    fields = {
        "transaction_id": stored.transaction_id,
        "session_id": producer.session_id,
        "agent_id": producer.agent_id,
        "tool_name": producer.tool_name,
        "provider_name": producer.provider_name,
        "payload_size_bytes": stored.size_bytes,
        "compression_type": compression,
        "compressed_size_bytes": stored.compressed_size_bytes,
        "checksum": checksum,
        "status": Message.Status.COMPLETE,
        "error_message": "",
        "created_at": now,
        "expires_at": expires_at,
        # jsonb cannot hold a NUL, which a client may put in its request_id;
        # the row records it for operators only, so it is shown replaced.
        "metadata": {"request_id": producer.request_id.replace("\x00", "\ufffd")},
    }
    event = BusEvent(
        kind=BusEvent.Kind.STORED,
        transaction_id=stored.transaction_id,
        agent_name=producer.agent_name,
        detail={
            "tool": producer.tool_name,
            "size_bytes": stored.size_bytes,
            "compressed_size_bytes": stored.compressed_size_bytes,
            "compression": compression,
        },
        created_at=now,
    )
    payload_io.insert_row_with_event(fields, compressed, event)
    bus_metrics.stored_total.labels(compression=compression).inc()
    bus_metrics.stored_bytes_total.inc(stored.size_bytes)
    logger.info(
        "Stored bus message %s: %d bytes, %s to %d",
        stored.transaction_id,
        stored.size_bytes,
        compression,
        stored.compressed_size_bytes,
    )
    return stored


def message_fetch(
    *,
    transaction_id: str,
    agent_id: int | None,
    config: Config,
    operator: str = "",
) -> FetchedPayload:
    """Return a verified payload; raise NOT_FOUND, EXPIRED or CHECKSUM_MISMATCH errors.

    Only the producing agent may fetch; `operator` names the staff user of the
    admin's download, who may fetch any message. Every byte served has been
    decompressed and hashed first. Up to STREAM_ABOVE_BYTES the payload is
    decompressed once into memory and that buffer is served; above it, the
    compressed bytes are decompressed piece by piece to verify them and again
    to serve them, so that memory holds the compressed bytes and one piece,
    never the whole payload.
    """
    row = payload_io.read_row(transaction_id, agent_id, any_owner=bool(operator))
    return _served(row, transaction_id, config, operator)


def message_fetch_with_token(
    *, token: str, transaction_id: str, config: Config
) -> FetchedPayload | None:
    """Return the verified payload of the token's agent, None for a token that
    is unknown, revoked or expired; raise as message_fetch.

    The token check (AgentToken.objects.active()'s rule) and the message's row
    are one query; an unusable token gets None whatever the message, so it
    learns nothing about it.
    """
    digest = token_digest(token)
    if digest is None:
        return None
    found = payload_io.read_row_for_token(digest, timezone.now(), transaction_id)
    if found is None or not token_digest_matches(found[0], digest):
        return None
    return _served(found[1], transaction_id, config, operator="")


def _served(
    row: payload_io.StoredRow | None,
    transaction_id: str,
    config: Config,
    operator: str,
) -> FetchedPayload:
    """Return the row's verified payload and record the fetch; raise as
    message_fetch."""
    if row is None:
        bus_metrics.errors_total.labels(code=MessageNotFoundError.code).inc()
        raise MessageNotFoundError(f"no message {transaction_id}")
    _ensure_servable(row)
    try:
        stored = row.payload
        if stored is None:
            stored = payload_io.read_payload(row)
        if stored is None:
            # Acked or purged since the first read: gone, like any unknown id.
            raise MessageNotFoundError(f"no message {transaction_id}")
        fetched = _verified(row, stored, config)
    except codec.CodecError as exc:
        _mark_corrupt(row, str(exc))
        raise ChecksumMismatchError("stored payload is corrupt") from exc
    now = timezone.now()
    # An operator's download is the operator's act: the event names them and
    # keeps the agent as the owner, so the agent's trail shows no fetch of its.
    event = BusEvent(
        kind=BusEvent.Kind.FETCHED,
        transaction_id=row.transaction_id,
        agent_name="" if operator else row.agent_name,
        detail=(
            {"operator": operator, "owner": row.agent_name}
            if operator
            else {"by": "agent"}
        ),
        created_at=now,
    )
    payload_io.record_fetch(row.pk, now, event)
    bus_metrics.fetched_total.inc()
    return fetched


def _verified(
    row: payload_io.StoredRow, stored: bytes | bytearray, config: Config
) -> FetchedPayload:
    """Return the payload once its bytes decompress to its size and SHA-256.

    Raise CodecError for a corrupt stream, ChecksumMismatchError (after marking
    the row) for a digest that differs.
    """
    compression, size = row.compression_type, row.payload_size_bytes
    digest = hashlib.sha256() if config.MESSAGE_BUS_CHECKSUM_ENABLED else None
    if size > STREAM_ABOVE_BYTES and compression != codec.NONE:
        # Verified piece by piece and kept compressed: served the same way.
        for piece in codec.decompressed_pieces(
            stored, compression, expected_size=size, piece_bytes=VERIFY_PIECE_BYTES
        ):
            if digest is not None:
                digest.update(piece)
        kept, kept_compression = stored, compression
    else:
        kept, kept_compression = (
            codec.decompress(stored, compression, expected_size=size),
            codec.NONE,
        )
        del stored
        if digest is not None:
            digest.update(kept)
    actual = digest.hexdigest() if digest is not None else row.checksum
    if actual != row.checksum:
        _mark_corrupt(row, f"sha256 {actual} does not match the stored checksum")
        raise ChecksumMismatchError("stored payload does not match its checksum")
    return FetchedPayload(
        transaction_id=row.transaction_id,
        size_bytes=size,
        checksum=row.checksum,
        stored=kept,
        compression=kept_compression,
    )


def message_ack(*, transaction_id: str, agent_id: int | None) -> None:
    """Delete a message now; raise MessageNotFoundError or MessageExpiredError."""
    row = _owned_row(transaction_id, agent_id)
    if row.is_expired:
        raise MessageExpiredError(f"message {transaction_id} has expired")
    with transaction.atomic():
        deleted, _ = Message.objects.filter(pk=row.pk).delete()
        if not deleted:
            raise MessageNotFoundError(f"no message {transaction_id}")
        BusEvent.objects.create(
            kind=BusEvent.Kind.ACKED,
            transaction_id=row.transaction_id,
            agent_name=_agent_name(row),
        )
    bus_metrics.acked_total.inc()
    logger.info("Bus message %s acknowledged and deleted", transaction_id)


def message_expire(*, message_ids: list[int], user: AbstractBaseUser | None) -> int:
    """Expire the given live messages now (purge_bus deletes them); return count."""
    now = timezone.now()
    who = user.get_username() if user else ""
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(of=("self",))
            .filter(pk__in=message_ids, expires_at__gt=now)
            .select_related("agent")
            .only("id", "transaction_id", "agent__name")
        )
        Message.objects.filter(pk__in=[row.pk for row in rows]).update(
            expires_at=now, status=Message.Status.EXPIRED
        )
        BusEvent.objects.bulk_create(
            BusEvent(
                kind=BusEvent.Kind.EXPIRED,
                transaction_id=row.transaction_id,
                agent_name=_agent_name(row),
                detail={"by": who},
            )
            for row in rows
        )
    logger.info("Expired %d bus message(s) on request of %s", len(rows), who or "-")
    return len(rows)


def _owned_row(transaction_id: str, agent_id: int | None) -> Message:
    """Return the message row without its payload; raise MessageNotFoundError."""
    rows = (
        Message.objects.filter(transaction_id=transaction_id)
        .select_related("agent")
        .defer("payload")
    )
    # Another agent's message answers exactly like one that never existed.
    rows = payload_io.owned_by(rows, agent_id)
    row = rows.first()
    if row is None:
        bus_metrics.errors_total.labels(code=MessageNotFoundError.code).inc()
        raise MessageNotFoundError(f"no message {transaction_id}")
    return row


def _ensure_servable(row: payload_io.StoredRow) -> None:
    if row.is_expired:
        bus_metrics.errors_total.labels(code=MessageExpiredError.code).inc()
        raise MessageExpiredError(f"message {row.transaction_id} has expired")
    if row.status == Message.Status.ERROR:
        bus_metrics.errors_total.labels(code=ChecksumMismatchError.code).inc()
        raise ChecksumMismatchError("stored payload failed its checksum earlier")


def _mark_corrupt(row: payload_io.StoredRow, reason: str) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=row.pk).update(
            status=Message.Status.ERROR, error_message=reason
        )
        BusEvent.objects.create(
            kind=BusEvent.Kind.CHECKSUM_FAILED,
            transaction_id=row.transaction_id,
            agent_name=row.agent_name,
            detail={"reason": reason},
        )
    bus_metrics.errors_total.labels(code=ChecksumMismatchError.code).inc()
    logger.error("Bus message %s failed verification: %s", row.transaction_id, reason)


def _agent_name(row: Message) -> str:
    return row.agent.name if row.agent_id else ""
