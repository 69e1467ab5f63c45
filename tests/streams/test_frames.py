"""SSE framing: a frame is built once, its bytes shared; Last-Event-ID parsing."""

from __future__ import annotations

import orjson

from backchannel.streams.frames import HEARTBEAT, Frame, encode
from backchannel.streams.sse import parse_last_event_id
from support_sse import SSEParser


def test_single_channel_bytes_carry_the_sequence_number() -> None:
    frame = Frame("event:1:wall", 42, "post", encode({"id": "7", "text": "hi"}))
    assert frame.single == b'id: 42\nevent: post\ndata: {"id":"7","text":"hi"}\n\n'


def test_bytes_are_built_once_and_shared() -> None:
    frame = Frame("tag:x", 1, "post", b"{}")
    assert frame.single is frame.single
    assert frame.multi is frame.multi


def test_multiplexed_bytes_name_the_channel_and_leave_the_id_to_the_connection() -> None:
    frame = Frame('tag:we"ird', 3, "remove", encode({"id": "9"}))
    assert frame.multi.startswith(b"event: remove\ndata: ")
    assert frame.multi.endswith(b"\n") and not frame.multi.endswith(b"\n\n")
    assert b"id:" not in frame.multi
    data = orjson.loads(frame.multi.split(b"data: ", 1)[1])
    assert data == {"channel": 'tag:we"ird', "seq": 3, "data": {"id": "9"}}


def test_data_never_contains_a_newline() -> None:
    data = encode({"text": "line one\nline two\r\n", "html": "<p>a</p>\n<p>b</p>"})
    assert b"\n" not in data and b"\r" not in data
    frame = Frame("tag:x", 1, "post", data)
    parser = SSEParser()
    parser.feed(frame.single)
    [parsed] = parser.frames
    assert parsed.id == "1"
    assert parsed.json()["text"] == "line one\nline two\r\n"


def test_heartbeat_is_a_comment() -> None:
    parser = SSEParser()
    parser.feed(HEARTBEAT * 3)
    assert parser.frames == []
    assert len(parser.comments) == 3


def test_the_parser_reassembles_frames_split_anywhere() -> None:
    frames = [Frame("c", n, "post", encode({"id": str(n)})) for n in range(1, 6)]
    stream = b"".join(f.single for f in frames)
    parser = SSEParser()
    for i in range(len(stream)):
        parser.feed(stream[i : i + 1])
    assert [(f.id, f.event, f.post_id) for f in parser.frames] == [
        (str(n), "post", str(n)) for n in range(1, 6)
    ]


def test_last_event_id_single_and_vector() -> None:
    assert parse_last_event_id(None, 1) == [None]
    assert parse_last_event_id("", 2) == [None, None]
    assert parse_last_event_id("17", 1) == [17]
    assert parse_last_event_id(" 3.0.12 ", 3) == [3, 0, 12]


def test_last_event_id_that_does_not_fit_starts_live() -> None:
    assert parse_last_event_id("3.4", 3) == [None, None, None]
    assert parse_last_event_id("3.x.4", 3) == [None, None, None]
    assert parse_last_event_id("-1", 1) == [None]
    assert parse_last_event_id("1.2", 1) == [None]
