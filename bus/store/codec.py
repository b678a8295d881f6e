"""Compression of stored bus payloads (none, gzip, zstd), bounded on the way back.

Pure Python on top of zlib and zstandard, no Django. Decompression never
produces more than the size recorded at store time: gzip inflates slice by
slice into one buffer of that size, and a zstd frame must declare exactly that
size in its header before it is decompressed, so a corrupt or tampered stream
cannot balloon memory.
"""

import zlib
from collections.abc import Iterator

import zstandard

NONE, GZIP, ZSTD = "none", "gzip", "zstd"
CODECS = (NONE, GZIP, ZSTD)
# Levels measured on tool-result JSON: gzip 6 and zstd 3 give the same ratio;
# zstd 3 is about 6x faster, which is why it is the default codec.
GZIP_LEVEL = 6
ZSTD_LEVEL = 3
GZIP_WBITS = 31  # zlib's way of asking for a gzip header and trailer
PIECE_BYTES = 1024 * 1024


class CodecError(ValueError):
    """Compressed bytes are corrupt or do not decompress to the expected size."""


def compress(data: bytes, codec: str) -> bytes:
    """Return data compressed with codec (data itself for none)."""
    if codec == NONE:
        return data
    if codec == GZIP:
        return zlib.compress(data, GZIP_LEVEL, wbits=GZIP_WBITS)
    if codec == ZSTD:
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")


def decompress(data: bytes, codec: str, *, expected_size: int) -> bytes | bytearray:
    """Return the decompressed bytes; raise CodecError unless exactly expected_size."""
    if codec == NONE:
        if len(data) != expected_size:
            raise CodecError(f"stored {len(data)} bytes, expected {expected_size}")
        return data
    if codec == GZIP:
        return _gunzip(data, expected_size)
    if codec == ZSTD:
        return _unzstd(data, expected_size)
    raise ValueError(f"unknown codec {codec!r}")


def _gunzip(data: bytes | bytearray, expected_size: int) -> bytearray:
    """Inflate slice by slice into one buffer; never past expected_size."""
    out = bytearray(expected_size)
    filled = 0
    decoder = zlib.decompressobj(GZIP_WBITS)
    view = memoryview(data)
    try:
        # Feeding bounded input slices keeps zlib's unconsumed_tail small: handing
        # it the whole rest each time copies that rest on every call (quadratic).
        for start in range(0, len(view), PIECE_BYTES):
            room = expected_size - filled
            piece = decoder.decompress(view[start : start + PIECE_BYTES], room + 1)
            if len(piece) > room:
                raise CodecError(f"decompresses to more than {expected_size} bytes")
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            if decoder.eof:
                break
    except zlib.error as exc:
        raise CodecError(f"corrupt gzip stream: {exc}") from exc
    if not decoder.eof:
        raise CodecError("truncated gzip stream")
    if filled != expected_size:
        raise CodecError(f"decompresses to {filled} bytes, expected {expected_size}")
    return out


def _unzstd(data: bytes, expected_size: int) -> bytes:
    """Decompress in one call once the frame header declares exactly expected_size."""
    try:
        declared = zstandard.frame_content_size(data)
        if declared != expected_size:
            raise CodecError(
                f"zstd frame declares {declared} bytes, not {expected_size}"
            )
        return zstandard.ZstdDecompressor().decompress(data)
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt zstd stream: {exc}") from exc


def decompressed_pieces(
    data: bytes, codec: str, *, expected_size: int, piece_bytes: int
) -> Iterator[bytes | memoryview]:
    """Yield the decompressed bytes in pieces of at most piece_bytes, bounded.

    Memory stays at one piece whatever the payload's size; raise CodecError
    (from the piece where it shows) unless the stream is exactly expected_size.
    """
    if codec == NONE:
        if len(data) != expected_size:
            raise CodecError(f"stored {len(data)} bytes, expected {expected_size}")
        if isinstance(data, bytes) and 0 < len(data) <= piece_bytes:
            # One piece: the bytes themselves, which the HTTP body then sends
            # without a copy (bytes() of a view copies the whole piece).
            yield data
            return
        view = memoryview(data)
        for start in range(0, len(view), piece_bytes):
            yield view[start : start + piece_bytes]
        return
    if codec == GZIP:
        pieces = _gunzip_pieces(data, expected_size, piece_bytes)
    elif codec == ZSTD:
        pieces = _unzstd_pieces(data, expected_size, piece_bytes)
    else:
        raise ValueError(f"unknown codec {codec!r}")
    # Decoders return up to what is asked: pieces are regrouped so that every
    # one but the last has exactly piece_bytes (frames then split as before).
    filled, pending = 0, bytearray()
    for piece in pieces:
        filled += len(piece)
        if filled > expected_size:
            raise CodecError(f"decompresses to more than {expected_size} bytes")
        if not pending and len(piece) == piece_bytes:
            yield piece
            continue
        pending += piece
        if len(pending) >= piece_bytes:
            whole = len(pending) - len(pending) % piece_bytes
            view = memoryview(pending)
            for start in range(0, whole, piece_bytes):
                yield bytes(view[start : start + piece_bytes])
            view.release()
            del pending[:whole]
    if filled != expected_size:
        raise CodecError(f"decompresses to {filled} bytes, expected {expected_size}")
    if pending:
        yield bytes(pending)


def _gunzip_pieces(
    data: bytes, expected_size: int, piece_bytes: int
) -> Iterator[bytes]:
    decoder = zlib.decompressobj(GZIP_WBITS)
    view = memoryview(data)
    try:
        # Input in bounded slices, output capped per call (see _gunzip): the
        # unconsumed tail stays small and no call inflates past piece_bytes.
        for start in range(0, len(view), PIECE_BYTES):
            chunk: bytes | memoryview = view[start : start + PIECE_BYTES]
            while chunk and not decoder.eof:
                piece = decoder.decompress(chunk, piece_bytes)
                if piece:
                    yield piece
                chunk = decoder.unconsumed_tail
            if decoder.eof:
                break
    except zlib.error as exc:
        raise CodecError(f"corrupt gzip stream: {exc}") from exc
    if not decoder.eof:
        raise CodecError("truncated gzip stream")


def _unzstd_pieces(
    data: bytes, expected_size: int, piece_bytes: int
) -> Iterator[bytes]:
    try:
        declared = zstandard.frame_content_size(data)
        if declared != expected_size:
            raise CodecError(
                f"zstd frame declares {declared} bytes, not {expected_size}"
            )
        reader = zstandard.ZstdDecompressor().stream_reader(
            data, read_across_frames=False
        )
        while piece := reader.read(piece_bytes):
            yield piece
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt zstd stream: {exc}") from exc


def decompress_head(data: bytes | bytearray, codec: str, *, limit: int) -> bytes:
    """Return at most the first limit decompressed bytes; raise CodecError if corrupt.

    For a preview: nothing past limit is inflated, whatever the stream declares,
    and data may be only the start of a stream (what it holds is decoded).
    """
    if codec == NONE:
        return bytes(data[:limit])
    try:
        if codec == GZIP:
            return zlib.decompressobj(GZIP_WBITS).decompress(data, limit)
        if codec == ZSTD:
            reader = zstandard.ZstdDecompressor().stream_reader(bytes(data))
            return reader.read(limit)
    except (zlib.error, zstandard.ZstdError) as exc:
        raise CodecError(f"corrupt {codec} stream: {exc}") from exc
    raise ValueError(f"unknown codec {codec!r}")
