"""Compression of stored bus payloads (none, gzip, zstd), bounded on the way back.

Pure Python on top of zlib and zstandard, no Django. Decompression works piece
by piece into one buffer of the size recorded at store time, so a corrupt or
tampered stream can never expand past that size.
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


def decompress(
    data: bytes | bytearray, codec: str, *, expected_size: int
) -> bytes | bytearray:
    """Return the decompressed bytes; raise CodecError unless exactly expected_size."""
    if codec == NONE:
        if len(data) != expected_size:
            raise CodecError(f"stored {len(data)} bytes, expected {expected_size}")
        return data
    out = bytearray(expected_size)
    filled = 0
    for piece in _pieces(data, codec):
        end = filled + len(piece)
        if end > expected_size:
            raise CodecError(f"decompresses to more than {expected_size} bytes")
        out[filled:end] = piece
        filled = end
    if filled != expected_size:
        raise CodecError(f"decompresses to {filled} bytes, expected {expected_size}")
    return out


def _pieces(data: bytes | bytearray, codec: str) -> Iterator[bytes]:
    if codec == GZIP:
        yield from _gzip_pieces(data)
    elif codec == ZSTD:
        yield from _zstd_pieces(data)
    else:
        raise ValueError(f"unknown codec {codec!r}")


def _gzip_pieces(data: bytes | bytearray) -> Iterator[bytes]:
    decoder = zlib.decompressobj(GZIP_WBITS)
    pending: bytes | memoryview = memoryview(data)
    try:
        while pending and not decoder.eof:
            yield decoder.decompress(pending, PIECE_BYTES)
            pending = decoder.unconsumed_tail
        if not decoder.eof:
            # All input was taken but zlib may still hold the end of the output.
            yield decoder.flush()
    except zlib.error as exc:
        raise CodecError(f"corrupt gzip stream: {exc}") from exc
    if not decoder.eof:
        raise CodecError("truncated gzip stream")


def _zstd_pieces(data: bytes | bytearray) -> Iterator[bytes]:
    reader = zstandard.ZstdDecompressor().read_to_iter(
        data, read_size=PIECE_BYTES, write_size=PIECE_BYTES
    )
    try:
        yield from reader
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt zstd stream: {exc}") from exc
