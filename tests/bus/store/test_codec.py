"""Codec round trips and corruption handling for every compression."""

import hashlib

import pytest

from bus.store import codec
from tests.bus.conftest import result_json

MIB = 1024 * 1024


@pytest.mark.parametrize("name", codec.CODECS)
@pytest.mark.parametrize("size", [0, 1, 1000, 64 * 1024, 3 * MIB + 17])
def test_codec__round_trip_is_byte_exact(name: str, size: int) -> None:
    data = result_json(size)
    packed = codec.compress(data, name)
    assert bytes(codec.decompress(packed, name, expected_size=size)) == data


@pytest.mark.slow
@pytest.mark.parametrize("name", codec.CODECS)
def test_codec__round_trip_100_mib(name: str) -> None:
    data = result_json(100 * MIB)
    packed = codec.compress(data, name)
    out = codec.decompress(packed, name, expected_size=len(data))
    del packed
    assert hashlib.sha256(out).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("name", [codec.GZIP, codec.ZSTD])
def test_codec__compresses_json(name: str) -> None:
    data = result_json(MIB)
    assert len(codec.compress(data, name)) < len(data) / 2


@pytest.mark.parametrize("name", codec.CODECS)
def test_codec__wrong_size_raises(name: str) -> None:
    data = result_json(10_000)
    packed = codec.compress(data, name)
    with pytest.raises(codec.CodecError):
        codec.decompress(packed, name, expected_size=len(data) - 1)
    with pytest.raises(codec.CodecError):
        codec.decompress(packed, name, expected_size=len(data) + 1)


@pytest.mark.parametrize("name", [codec.GZIP, codec.ZSTD])
def test_codec__corrupt_stream_never_returns_the_original(name: str) -> None:
    """Flipped bytes raise CodecError or yield other bytes (the checksum's job)."""
    data = result_json(100_000)
    packed = bytearray(codec.compress(data, name))
    packed[len(packed) // 2] ^= 0xFF
    try:
        out = codec.decompress(bytes(packed), name, expected_size=len(data))
    except codec.CodecError:
        return
    assert bytes(out) != data


@pytest.mark.parametrize("name", [codec.GZIP, codec.ZSTD])
def test_codec__truncated_stream_raises(name: str) -> None:
    data = result_json(100_000)
    packed = codec.compress(data, name)
    with pytest.raises(codec.CodecError):
        codec.decompress(packed[: len(packed) // 2], name, expected_size=len(data))


def test_codec__unknown_codec_raises() -> None:
    with pytest.raises(ValueError, match="unknown codec"):
        codec.compress(b"x", "brotli")


@pytest.mark.parametrize("name", codec.CODECS)
def test_decompress_head__returns_only_the_first_bytes(name: str) -> None:
    data = b"0123456789" * 100_000
    head = codec.decompress_head(codec.compress(data, name), name, limit=4096)
    assert head == data[:4096]


@pytest.mark.parametrize("name", [codec.GZIP, codec.ZSTD])
def test_decompress_head__corrupt_stream_is_a_codec_error(name: str) -> None:
    with pytest.raises(codec.CodecError):
        codec.decompress_head(b"not compressed at all", name, limit=100)


@pytest.mark.parametrize("name", codec.CODECS)
def test_decompress_head__decodes_the_start_of_a_cut_stream(name: str) -> None:
    """A preview reads only the first stored bytes of a large result."""
    data = result_json(8 * MIB)
    packed = codec.compress(data, name)
    head = codec.decompress_head(packed[: 300 * 1024], name, limit=4096)
    assert head == data[:4096]


@pytest.mark.parametrize("size", [0, 1, 1000, 1024, 1025, 4096])
def test_decompressed_pieces__uncompressed_pieces_are_exact(size: int) -> None:
    """Every piece but the last has piece_bytes; together they are the payload."""
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    pieces = [
        bytes(piece)
        for piece in codec.decompressed_pieces(
            data, codec.NONE, expected_size=size, piece_bytes=1024
        )
    ]
    assert b"".join(pieces) == data
    assert all(len(piece) == 1024 for piece in pieces[:-1])
    assert len(pieces) == -(-size // 1024)  # none for an empty payload
