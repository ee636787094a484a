"""gzip bodies assembled from stored and reused deflate pieces: Python's own gzip reader (the
same format Go's client decodes) must give back exactly the pieces joined, CRC and length
included, for any mix of pieces."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cudaswitch.k8s.gzipped import accepts_gzip, deflate_once, gzip_join

BIG = (b'{"op":"add","path":"/spec/affinity","value":' * 900)[:40_000]


def test_a_reused_piece_between_small_ones_reads_back_whole():
    piece = deflate_once(BIG)
    body = gzip_join([b'{"uid":"1","patch":"', piece, b'"}'])
    assert gzip.decompress(body) == b'{"uid":"1","patch":"' + BIG + b'"}'
    assert len(body) < len(BIG) // 10  # the point of it


def test_the_same_piece_serves_many_answers():
    piece = deflate_once(BIG)
    for uid in (b"a", b"bb" * 50, b""):
        assert gzip.decompress(gzip_join([uid, piece, uid])) == uid + BIG + uid


def test_a_wrong_crc_is_caught_by_the_reader():
    body = bytearray(gzip_join([b"x", deflate_once(BIG)]))
    body[-8] ^= 1  # the CRC-32 in the trailer
    with pytest.raises((OSError, zlib.error)):
        gzip.decompress(bytes(body))


@settings(max_examples=int(os.environ.get("CUDASWITCH_FUZZ_EXAMPLES", "150")), deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300),
                          st.tuples(st.binary(min_size=0, max_size=2000), st.integers(1, 9)),
                          st.just(b"z" * 70_000)), max_size=8))
def test_any_mix_of_pieces_reads_back_as_the_pieces_joined(spec):
    parts, plain = [], b""
    for item in spec:
        if isinstance(item, tuple):
            data, level = item
            parts.append(deflate_once(data, level))
            plain += data
        else:
            parts.append(item)
            plain += item
    assert gzip.decompress(gzip_join(parts)) == plain


@pytest.mark.parametrize("value,ok", [
    (b"gzip", True), (b"deflate, gzip", True), (b"GZIP", True), (b"x-gzip", True),
    (b"gzip;q=0.5", True), (b"*", True), (b"identity", False), (b"", False),
    (b"gzip;q=0", False), (b"gzip;q=0.0, *", False), (b"*, gzip;q=0", False),
    (b"gzip;q=abc", False), (b"br", False), (b"*;q=0", False),
])
def test_accept_encoding_is_read_as_http_says(value, ok):
    assert accepts_gzip(value) is ok
