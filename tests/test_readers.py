"""Streaming readers: every layout, every line number, every byte accounted for."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import HEADER_ALG_KID, compact, json_key, json_values, v3_claims

from migrate.convert import convert_files
from migrate.kinds import INPUT_KINDS, iter_records, opened
from migrate.readers import (
    DEFAULT_MAX_RECORD_BYTES,
    RAW_KEEP_BYTES,
    Record,
    iter_lines,
    read_ndjson,
    read_tokens,
)

FIXTURES = Path(__file__).parent / "fixtures"
SEED_V2 = (FIXTURES / "seed-v2-payload.json").read_bytes()
SEED_EXPORT = (FIXTURES / "seed-export-line.ndjson").read_bytes().strip()
SEED_RECORD = json.loads((FIXTURES / "seed-events-record-wrapped-token.json").read_text("utf-8"))
SEED_TOKEN = (FIXTURES / "seed-set-wrapped-token.txt").read_bytes()
NOTIFICATION = json.loads(SEED_V2)[0]
CHUNK = 1 << 16  # the readers' documented chunk size


def read(
    tmp_path: Path, data: bytes, kind: str, name: str = "input", max_bytes: int | None = None
) -> list[Record]:
    path = tmp_path / name
    path.write_bytes(data)
    with opened(str(path)) as (stream, _counter):
        return list(
            iter_records(str(path), stream, kind, max_bytes=max_bytes or DEFAULT_MAX_RECORD_BYTES)
        )


def summary(records: list[Record]) -> list[tuple[int, str, Any]]:
    """``(line, pointer, value or reason)`` per record."""
    return [
        (r.line, r.pointer, r.error.reason if r.error is not None else r.value) for r in records
    ]


class Trickle(io.RawIOBase):
    """A stream that hands its bytes out a few at a time, as a slow pipe does."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.at, self.turn = data, sizes or [1], 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self.sizes[self.turn % len(self.sizes)])
        self.turn += 1
        piece = self.data[self.at : self.at + size]
        buffer[: len(piece)] = piece
        self.at += len(piece)
        return len(piece)


# --- NDJSON ----------------------------------------------------------------------------------


def test_ndjson_skips_blank_lines_and_counts_lines_as_an_editor_does(tmp_path: Path) -> None:
    data = b'\xef\xbb\xbf{"a":1}\r\n\r\n   \n{"b":2}\n\t\n{"c":3}'
    assert summary(read(tmp_path, data, "export")) == [
        (1, "", {"a": 1}),
        (4, "", {"b": 2}),
        (6, "", {"c": 3}),
    ]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(json_values, st.sampled_from([b"\n", b"\r\n"]), st.integers(0, 2)), max_size=12
    ),
    st.booleans(),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=5),
    st.booleans(),
)
def test_ndjson_reads_every_value_exactly_whatever_the_line_endings_and_read_sizes(
    rows: list[tuple[Any, bytes, int]], bom: bool, sizes: list[int], last_newline: bool
) -> None:
    data, expected, line = b"\xef\xbb\xbf" if bom else b"", [], 1
    for value, newline, blanks in rows:
        data += json.dumps(value).encode() + newline + newline * blanks
        expected.append((line, json_key(value)))
        line += 1 + blanks
    if rows and not last_newline:
        data = data.rstrip(b"\r\n")
    records = list(read_ndjson("f", Trickle(data, sizes)))
    assert all(r.error is None for r in records), [r.error for r in records]
    # json_key tells 2**70 from 2.0**70: big integers must come through as integers.
    assert [(r.line, json_key(r.value)) for r in records] == expected


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_the_size_limit_is_on_the_record_not_its_line_ending(
    tmp_path: Path, newline: bytes
) -> None:
    limit = 1024
    exact = b'"' + b"x" * (limit - 2) + b'"'
    over = b'"' + b"x" * (limit - 1) + b'"'
    records = read(tmp_path, exact + newline + over + newline + b"1", "export", max_bytes=limit)
    assert summary(records) == [(1, "", "x" * (limit - 2)), (2, "", "too_large"), (3, "", 1)]


@pytest.mark.parametrize(
    ("line", "reason", "column"),
    [
        (b'{"a": 1,}', "malformed_json", "column 9"),
        (b"hello", "malformed_json", "column 1"),
        (b'{"a": 1} {"b": 2}', "malformed_json", "column 10"),
        (b'{"a": NaN}', "malformed_json", None),
        (b'{"a": -Infinity}', "malformed_json", None),
        (b'{"a": "x', "truncated", "column 7"),
        (b'{"a": tr', "truncated", "column 7"),
        (b'{"a": 1.', "truncated", None),
        (b'{"a": "\\ud83d', "truncated", None),
        (b'{"a": "caf\xc3', "truncated", "column 11"),  # cut inside a UTF-8 character
        (b'{"a": "caf\xe9"}', "encoding", "column 11"),  # Latin-1, not UTF-8
        (b'{"a": "\\ud800"}', "encoding", None),  # a lone surrogate is not Unicode
        (b"[" * 5000 + b"]" * 5000, "malformed_json", None),  # too deep, not a crash
    ],
)
def test_a_bad_line_is_rejected_with_its_reason_and_place(
    tmp_path: Path, line: bytes, reason: str, column: str | None
) -> None:
    records = read(tmp_path, b'{"ok":1}\n' + line + b'\n{"ok":2}\n', "export")
    assert summary(records)[0] == (1, "", {"ok": 1})
    assert summary(records)[2] == (3, "", {"ok": 2})
    bad = records[1]
    assert (bad.line, bad.pointer, bad.error and bad.error.reason) == (2, "", reason)
    assert bad.error is not None
    assert bad.error.message
    if column is not None:
        assert column in bad.error.message
    assert " at at " not in bad.error.message


@settings(max_examples=100)
@given(v3_claims(), st.data())
def test_every_cut_of_a_record_is_reported_as_truncated(claims: dict[str, Any], data: Any) -> None:
    line = json.dumps(claims, ensure_ascii=data.draw(st.booleans())).encode()
    cut = data.draw(st.integers(min_value=1, max_value=len(line) - 1))
    prefix = line[:cut]
    if not prefix.strip():
        return
    records = list(read_ndjson("f", io.BytesIO(line + b"\n" + prefix)))
    assert [r.error.reason if r.error else "ok" for r in records] == ["ok", "truncated"]
    assert records[1].line == 2


def test_big_integers_and_exact_floats_are_kept(tmp_path: Path) -> None:
    big = 123456789012345678901234567890
    data = f'{{"n":{big},"m":-{big},"f":1.5,"z":-0.0}}\n'.encode()
    (record,) = read(tmp_path, data, "export")
    assert record.value == {"n": big, "m": -big, "f": 1.5, "z": -0.0}
    assert isinstance(record.value["n"], int)


def test_raw_text_is_the_whole_record_with_bad_bytes_escaped(tmp_path: Path) -> None:
    long_line = json.dumps({"x": "y" * 6000}).encode()
    records = read(tmp_path, long_line + b"\n" + b'{"bad": "\xff"}\n', "export")
    assert records[0].raw_text() == long_line.decode()  # not cut at 4 KB
    assert records[1].raw_text() == '{"bad": "\\xff"}'


# --- oversized lines ---------------------------------------------------------------------------


def test_a_10_mb_line_is_rejected_without_being_held(tmp_path: Path) -> None:
    huge = b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    path = tmp_path / "huge.ndjson"
    path.write_bytes(SEED_EXPORT + b"\n" + huge + b"\n" + SEED_EXPORT + b"\n")
    del huge
    tracemalloc.start()
    try:
        with opened(str(path)) as (stream, _):
            records = list(iter_records(str(path), stream, "export"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary(records)[1] == (2, "", "too_large")
    assert [r.error is None for r in records] == [True, False, True]
    assert len(records[1].raw) <= RAW_KEEP_BYTES + 64  # a sample for the rejects table
    assert records[1].raw.startswith(b'{"x": "aaa')
    assert peak < 5 * 1024 * 1024  # read in chunks, never whole


@pytest.mark.parametrize("kind", ["v2", "events", "set"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_an_oversized_line_in_any_kind_is_skipped_and_reading_goes_on(
    tmp_path: Path, kind: str, where: str
) -> None:
    limit = 64 * 1024
    good = {
        "v2": json.dumps([NOTIFICATION]).encode(),
        "events": json.dumps(SEED_RECORD).encode(),
        "set": compact(HEADER_ALG_KID, json.loads(SEED_EXPORT)).encode(),
    }[kind]
    big = {
        "v2": b'[{"uuid": "' + b"1" * (3 * limit) + b'"}]',
        "events": b'{"id": "' + b"1" * (3 * limit) + b'"}',
        "set": b"eyJ" + b"A" * (3 * limit),
    }[kind]
    lines = [good, good]
    lines.insert({"first": 0, "middle": 1, "last": 2}[where], big)
    records = read(tmp_path, b"\n".join(lines) + b"\n", kind, max_bytes=limit)
    reasons = [r.error.reason if r.error else "ok" for r in records]
    expected = ["ok", "ok"]
    expected.insert({"first": 0, "middle": 1, "last": 2}[where], "too_large")
    assert reasons == expected
    assert [r.line for r in records] == [1, 2, 3]
    assert all(len(r.raw) <= RAW_KEEP_BYTES + 64 for r in records if r.error)


# --- multi-line JSON documents -----------------------------------------------------------------


def test_the_seed_v2_file_streams_its_element_with_the_elements_start_line(
    tmp_path: Path,
) -> None:
    assert summary(read(tmp_path, SEED_V2, "v2")) == [(2, "/0", NOTIFICATION)]


def test_a_pretty_printed_array_yields_each_element_at_its_first_line(tmp_path: Path) -> None:
    elements = [dict(NOTIFICATION, uuid=f"12345678-4321-1234-4321-{i:012d}") for i in range(3)]
    text = json.dumps(elements, indent=2)
    starts = [n for n, line in enumerate(text.split("\n"), 1) if line == "  {"]
    records = read(tmp_path, b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(), "v2")
    assert summary(records) == [(starts[i], f"/{i}", e) for i, e in enumerate(elements)]
    # Each record keeps its own text: what a rejects file shows.
    assert [json.loads(r.raw) for r in records] == elements


def _page(records: list[Any], links_first: bool) -> dict[str, Any]:
    links = {"self": {"href": "/events?page=1"}, "next": {"href": "/events?page=2"}}
    embedded = {"_embedded": {"events": records, "count": len(records)}}
    return {"_links": links, **embedded} if links_first else {**embedded, "_links": links}


@pytest.mark.parametrize("links_first", [False, True])
@pytest.mark.parametrize("pretty", [False, True])
def test_an_events_store_page_yields_its_records(
    tmp_path: Path, links_first: bool, pretty: bool
) -> None:
    second = dict(SEED_RECORD, id="second")
    page = _page([SEED_RECORD, second], links_first)
    text = json.dumps(page, indent=1 if pretty else None)
    records = read(tmp_path, text.encode(), "events")
    assert [(r.pointer, r.value) for r in records] == [
        ("/_embedded/events/0", SEED_RECORD),
        ("/_embedded/events/1", second),
    ]
    if pretty:
        lines = text.split("\n")
        firsts = [n for n, line in enumerate(lines, 1) if line == "   {"]
        assert [r.line for r in records] == firsts
    else:
        assert [r.line for r in records] == [1, 1]
        assert [json.loads(r.raw) for r in records] == [SEED_RECORD, second]


def test_pages_and_records_mixed_one_per_line(tmp_path: Path) -> None:
    lines = [
        json.dumps(SEED_RECORD),
        json.dumps(_page([SEED_RECORD], False)),
        json.dumps([SEED_RECORD]),
    ]
    records = read(tmp_path, "\n".join(lines).encode(), "events")
    assert [(r.line, r.pointer) for r in records] == [
        (1, ""),
        (2, "/_embedded/events/0"),
        (3, "/0"),
    ]


def test_v2_one_array_per_line(tmp_path: Path) -> None:
    a = dict(NOTIFICATION, hash="a")
    b = dict(NOTIFICATION, hash="b")
    data = (json.dumps([a, b]) + "\n\n" + json.dumps([b]) + "\n[]\n").encode()
    records = read(tmp_path, data, "v2")
    assert summary(records) == [(1, "/0", a), (1, "/1", b), (3, "/0", b)]
    assert [json.loads(r.raw) for r in records] == [a, b, b]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('[\n  {"a": 1}\n  {"b": 2}\n]\n', 3, "malformed_json"),  # a missing comma
        ('[\n  {"a": 1},\n  {"b": 2', 3, "truncated"),
        ('[\n  {"a": 1},\n  {"b": "tw', 3, "truncated"),
        ('[\n  {"a": 1},\n  {"b": NaN}\n]', 3, "malformed_json"),
        (
            '{"_embedded": {\n "events": [\n {"a": 1},\n {"b": [' + "[" * 3000 + "\n",
            4,
            "malformed_json",
        ),
        ('{"_embedded": {\n 1: [\n{"a": 1}]}}\n', 2, "malformed_json"),  # a key must be a string
    ],
)
def test_a_broken_document_stops_with_one_record_naming_the_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    records = read(tmp_path, text.encode(), "events")
    *good, bad = records
    assert all(r.error is None for r in good)
    assert bad.error is not None
    assert (bad.line, bad.error.reason) == (line, reason)
    assert "rest of the file" in bad.error.message


def test_a_byte_that_is_not_utf8_in_a_document_is_placed_on_its_line(tmp_path: Path) -> None:
    text = json.dumps([NOTIFICATION] * 3000, indent=2).encode()  # well past one chunk
    lines = text.split(b"\n")
    target = max(i for i, line in enumerate(lines) if b'"user"' in line) - 7
    lines[target] = lines[target].replace(b'"user"', b'"us\xe9r"')
    assert b"\xe9" in lines[target]
    records = read(tmp_path, b"\n".join(lines), "v2")
    bad = records[-1]
    assert bad.error is not None
    assert bad.error.reason == "encoding"
    assert bad.line == target + 1
    assert b"us\xe9r" in bad.raw


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (b"not json at all", "malformed_json"),
        (b'[{"uuid": "x"}, ]', "malformed_json"),
        (b"\xff\xfe[]", "encoding"),
        (b'[{"uuid": "123', "truncated"),
    ],
)
@pytest.mark.parametrize("kind", ["v2", "events"])
def test_a_bad_first_line_does_not_lose_the_lines_after_it(
    tmp_path: Path, first: bytes, reason: str, kind: str
) -> None:
    good = json.dumps([NOTIFICATION] if kind == "v2" else SEED_RECORD).encode()
    records = read(tmp_path, first + b"\n" + good + b"\n" + good + b"\n", kind)
    assert [(r.line, r.error.reason if r.error else "ok") for r in records] == [
        (1, reason),
        (2, "ok"),
        (3, "ok"),
    ]


def test_records_straddling_every_chunk_boundary(tmp_path: Path) -> None:
    rnd = random.Random(7)
    values = [
        rnd.choice(
            [
                rnd.randint(-(10**30), 10**30),
                rnd.random() * 10 ** rnd.randint(-5, 20),
                "".join(
                    rnd.choice('ab"\\\u00e9\u2028\U0001f600 ') for _ in range(rnd.randint(0, 40))
                ),
                {"k": [1, 2.5, None, True], "s": "x" * rnd.randint(0, 300)},
            ]
        )
        for _ in range(4000)
    ]
    text = json.dumps(values, indent=1, ensure_ascii=False)
    assert len(text.encode()) > 3 * CHUNK
    expected = [json_key(v) for v in values]
    for shift in range(0, 9, 2):  # move every boundary through the values
        records = read(tmp_path, (" " * shift + text).encode(), "v2", name=f"doc{shift}.json")
        assert [json_key(r.value) for r in records] == expected
        assert [r.pointer for r in records[:3]] == ["/0", "/1", "/2"]
    ndjson = "\n".join(json.dumps(v) for v in values).encode()
    assert len(ndjson) > 3 * CHUNK
    records = read(tmp_path, ndjson, "export", name="lines.ndjson")
    assert [(r.line, json_key(r.value)) for r in records] == [
        (n, k) for n, k in enumerate(expected, 1)
    ]


# --- gzip, stdin, files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["export.ndjson.gz", "export.ndjson", "export.gz.bak"])
def test_gzip_by_extension_or_by_its_magic_bytes(tmp_path: Path, name: str) -> None:
    data = gzip.compress(SEED_EXPORT + b"\n" + SEED_EXPORT + b"\n")
    records = read(tmp_path, data, "export", name=name)
    assert [(r.line, r.value["jti"]) for r in records] == [
        (1, "519a08c4-3016-4cad-9b10-feb49fcd133a"),
        (2, "519a08c4-3016-4cad-9b10-feb49fcd133a"),
    ]


def test_a_gzipped_pretty_document_streams_too(tmp_path: Path) -> None:
    records = read(tmp_path, gzip.compress(SEED_V2), "v2", name="v2.json.gz")
    assert summary(records) == [(2, "/0", NOTIFICATION)]


@pytest.mark.parametrize("compressed", [False, True])
def test_opened_files_are_closed_afterwards(tmp_path: Path, compressed: bool) -> None:
    path = tmp_path / "f.ndjson"
    path.write_bytes(gzip.compress(SEED_EXPORT) if compressed else SEED_EXPORT)
    with opened(str(path)) as (stream, counter):
        assert len(list(iter_records(str(path), stream, "export"))) == 1
    assert counter.inner.closed  # the file itself, under any gzip and buffer layers
    assert counter.consumed == path.stat().st_size


STDIN_PROGRAM = """
import json, sys
from migrate.kinds import iter_records, opened
with opened("-") as (stream, counter):
    for r in iter_records("-", stream, sys.argv[1]):
        print(json.dumps([r.path, r.line, r.pointer, r.error.reason if r.error else r.value]))
"""


@pytest.mark.parametrize("compressed", [False, True])
def test_dash_reads_stdin(compressed: bool) -> None:
    data = SEED_V2 + b"\n" + json.dumps([NOTIFICATION]).encode() + b"\n"
    data = gzip.compress(data) if compressed else data
    result = subprocess.run(
        [sys.executable, "-c", STDIN_PROGRAM, "v2"],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert rows == [["<stdin>", 2, "/0", NOTIFICATION], ["<stdin>", 11, "/0", NOTIFICATION]]


# --- tokens ----------------------------------------------------------------------------------


def test_wrapped_tokens_are_joined_and_start_at_their_first_line(tmp_path: Path) -> None:
    one_line = compact(HEADER_ALG_KID, json.loads(SEED_EXPORT)).encode()
    nbsp = (FIXTURES / "set-wrapped-token-nbsp-indent.txt").read_bytes()
    data = SEED_TOKEN + b"\n" + one_line + b"\n\n\n" + nbsp + nbsp + one_line + b"\n"
    records = read(tmp_path, data, "set")
    token_lines = SEED_TOKEN.count(b"\n") + 1
    assert [r.line for r in records] == [
        1,
        token_lines + 1,
        token_lines + 4,
        2 * token_lines + 4,
        3 * token_lines + 4,
    ]
    assert all(r.error is None for r in records)
    assert records[0].value.split() == [line.strip() for line in SEED_TOKEN.decode().splitlines()]


def test_a_broken_token_does_not_swallow_the_next_one(tmp_path: Path) -> None:
    good = compact(HEADER_ALG_KID, json.loads(SEED_EXPORT)).encode()
    data = b"\n".join([good, b"eyJhbGciOi.broken", good, b"eyJhbGciOiJSUzI1NiJ9", good])
    records = read(tmp_path, data, "set")
    assert [(r.line, r.value) for r in records] == [
        (1, good.decode()),
        (2, "eyJhbGciOi.broken"),
        (3, good.decode()),
        (4, "eyJhbGciOiJSUzI1NiJ9"),
        (5, good.decode()),
    ]


def test_a_huge_wrapped_token_is_counted_not_held(tmp_path: Path) -> None:
    # 3 MB over many short lines, no blank line: one token's start and its continuations.
    wrapped = b"\n".join([b"eyJ" + b"A" * 997] + [b"A" * 1000] * 2999)
    records = list(read_tokens("f", io.BytesIO(wrapped + b"\n\n" + SEED_TOKEN), max_bytes=65536))
    assert [r.error.reason if r.error else "ok" for r in records] == ["too_large", "ok"]
    assert len(records[0].raw) <= RAW_KEEP_BYTES
    assert records[1].line == 3002


def test_a_token_file_that_is_not_utf8_is_rejected_on_its_line(tmp_path: Path) -> None:
    records = read(tmp_path, b"eyJ\xff.a.b\n\n" + SEED_TOKEN, "set")
    assert [(r.line, r.error.reason if r.error else "ok") for r in records] == [
        (1, "encoding"),
        (3, "ok"),
    ]


# --- iter_lines ------------------------------------------------------------------------------


@settings(max_examples=150)
@given(
    st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=10),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=4),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef", b"\xef\xbb"]),
)
def test_iter_lines_is_the_same_whatever_the_read_sizes(
    lines: list[bytes], sizes: list[int], head: bytes
) -> None:
    data = head + b"\n".join(lines)
    got = list(iter_lines(Trickle(data, sizes), max_bytes=20))
    whole = list(iter_lines(io.BytesIO(data), max_bytes=20))
    assert got == whole
    content = (data[3:] if data.startswith(b"\xef\xbb\xbf") else data).split(b"\n")
    if content and content[-1] == b"":
        content.pop()
    assert [n for n, _, _ in got] == list(range(1, len(content) + 1))
    for (_, text, oversized), original in zip(got, content, strict=True):
        body = original[:-1] if original.endswith(b"\r") else original
        assert oversized == (len(body) > 20)
        if not oversized:
            assert text == body


# --- nothing is lost -----------------------------------------------------------------------------

good_lines = st.sampled_from(
    [
        SEED_EXPORT,
        json.dumps([NOTIFICATION]).encode(),
        json.dumps(SEED_RECORD).encode(),
        compact(HEADER_ALG_KID, json.loads(SEED_EXPORT)).encode(),
    ]
)
junk_lines = st.one_of(
    st.binary(max_size=60),
    good_lines.flatmap(lambda g: st.integers(0, len(g)).map(lambda i: g[:i])),
    good_lines.flatmap(
        lambda g: st.integers(0, len(g) - 1).map(lambda i: g[:i] + b"\xff" + g[i + 1 :])
    ),
    st.sampled_from(
        [b"[", b"{", b"]", b'{"_embedded": {', b"[[[[", b"NaN", b"\xef\xbb\xbf", b"\r"]
    ),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(good_lines | junk_lines, max_size=8),
    st.sampled_from(INPUT_KINDS),
    st.booleans(),
)
def test_arbitrary_bytes_are_converted_or_rejected_and_always_counted(
    lines: list[bytes], kind: str, compressed: bool
) -> None:
    data = b"\n".join(lines)
    with_gz = gzip.compress(data) if compressed else data
    fd, name = tempfile.mkstemp(suffix=".gz" if compressed else ".txt")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(with_gz)
        out = io.BytesIO()
        rejected: list[Any] = []
        counts = convert_files([name], kind, out, on_reject=rejected.append)
    finally:
        os.unlink(name)
    assert counts.read == counts.converted + counts.rejected
    assert counts.converted == out.getvalue().count(b"\n")
    assert counts.rejected == len(rejected) == sum(counts.by_reason.values())
    for event_line in out.getvalue().splitlines():
        assert json.loads(event_line)["source"] in ("v2", "v3")
    for reject in rejected:
        assert reject.line >= 1
        assert reject.reason
        assert reject.message


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(INPUT_KINDS))
def test_random_bytes_never_crash_a_reader(data: bytes, kind: str) -> None:
    records = list(iter_records("f", io.BufferedReader(io.BytesIO(data)), kind))
    reader_reasons = {"malformed_json", "encoding", "too_large", "truncated", "schema"}
    for record in records:
        assert record.line >= 1
        assert record.error is None or record.error.reason in reader_reasons


@given(
    lines=st.lists(st.sampled_from(['{"a": 1}', "", "  ", "{x", "[1, 2]", "\r"]), max_size=30),
    every=st.integers(min_value=1, max_value=4),
)
def test_ndjson_records_not_wanted_are_counted_but_not_parsed(lines: list[str], every: int) -> None:
    data = "".join(line + "\n" for line in lines).encode()
    whole = list(read_ndjson("f", io.BytesIO(data)))
    asked: list[int] = []

    def wanted(line: int) -> bool:
        asked.append(line)
        return line % every == 0

    partial = list(read_ndjson("f", io.BytesIO(data), wanted=wanted))
    assert [r.line for r in partial] == [r.line for r in whole]  # every record still counted
    for kept, full in zip(partial, whole, strict=True):
        if kept.line % every == 0:
            assert kept.value == full.value
            assert repr(kept.error) == repr(full.error)
        else:  # read past: nothing parsed, nothing judged
            assert (kept.value, kept.error, kept.raw) == (None, None, full.raw)
    assert asked == sorted(set(asked))  # asked once per line, in order
