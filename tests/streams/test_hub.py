"""The in-process fan-out: ordering, gap filling, the bounded buffer, freeing channels."""

from __future__ import annotations

from backchannel.streams.frames import Frame
from backchannel.streams.hub import StreamHub, Waker


def frames(channel: str, *seqs: int) -> list[Frame]:
    return [Frame(channel, s, "post", b'{"id":"%d"}' % s) for s in seqs]


class Store:
    """A fake committed store: what ``read_gap`` would find in the database."""

    def __init__(self, committed: list[Frame] | None = None) -> None:
        self.committed = {(f.channel, f.seq): f for f in committed or []}
        self.reads: list[tuple[str, int, int]] = []

    async def read_gap(self, channel: str, after: int, upto: int) -> list[Frame]:
        self.reads.append((channel, after, upto))
        return [
            f for (c, s), f in sorted(self.committed.items()) if c == channel and after < s <= upto
        ]


def seqs(found: list[Frame] | None) -> list[int] | None:
    return None if found is None else [f.seq for f in found]


async def test_frames_in_order_reach_the_buffer_and_ring_the_subscriber() -> None:
    hub = StreamHub(Store().read_gap, capacity=16)
    waker = Waker()
    [buffer] = hub.subscribe(["c"], waker)
    await hub.deliver(frames("c", 1, 2, 3))
    assert waker.event.is_set()
    assert seqs(buffer.after(0)) == [1, 2, 3]
    assert seqs(buffer.after(2)) == [3]
    assert seqs(buffer.after(3)) == []


async def test_out_of_order_delivery_is_put_in_order() -> None:
    store = Store(frames("c", 1, 2, 3, 4, 5))
    hub = StreamHub(store.read_gap, capacity=16)
    [buffer] = hub.subscribe(["c"], Waker())
    await hub.deliver(frames("c", 1))
    # One message with its frames shuffled: sorted, no store read needed.
    await hub.deliver(frames("c", 4, 2, 3))
    assert seqs(buffer.after(0)) == [1, 2, 3, 4]
    assert store.reads == []
    # A late duplicate of an older frame changes nothing.
    await hub.deliver(frames("c", 3, 5))
    assert seqs(buffer.after(0)) == [1, 2, 3, 4, 5]


async def test_a_gap_is_filled_from_the_store() -> None:
    store = Store(frames("c", 1, 2, 3, 4, 5, 6))
    hub = StreamHub(store.read_gap, capacity=16)
    [buffer] = hub.subscribe(["c"], Waker())
    await hub.deliver(frames("c", 1, 2))
    # 3 and 4 were lost (or are late) on the broker: 5 arrives first.
    await hub.deliver(frames("c", 5))
    assert store.reads == [("c", 2, 5)]
    assert seqs(buffer.after(0)) == [1, 2, 3, 4, 5]
    # When the late ones arrive, nothing is repeated.
    await hub.deliver(frames("c", 3, 4, 6))
    assert seqs(buffer.after(0)) == [1, 2, 3, 4, 5, 6]


async def test_holes_inside_one_delivery_are_filled_too() -> None:
    store = Store(frames("c", 1, 2, 3, 4))
    hub = StreamHub(store.read_gap, capacity=16)
    [buffer] = hub.subscribe(["c"], Waker())
    await hub.deliver(frames("c", 1))
    await hub.deliver(frames("c", 4, 2))
    assert seqs(buffer.after(0)) == [1, 2, 3, 4]


async def test_a_hole_the_store_cannot_fill_restarts_the_buffer_after_it() -> None:
    # Frame 3 is not in the store (say, pruned): the buffer must not pretend to be
    # continuous across it, so a subscriber at 2 is told to read the store.
    store = Store(frames("c", 1, 2, 4))
    hub = StreamHub(store.read_gap, capacity=16)
    [buffer] = hub.subscribe(["c"], Waker())
    await hub.deliver(frames("c", 1, 2))
    await hub.deliver(frames("c", 4))
    assert seqs(buffer.after(3)) == [4]
    assert buffer.after(2) is None


async def test_a_fresh_buffer_starts_at_its_first_frame() -> None:
    store = Store(frames("c", *range(1, 11)))
    hub = StreamHub(store.read_gap, capacity=16)
    [buffer] = hub.subscribe(["c"], Waker())
    await hub.deliver(frames("c", 8, 9))
    assert store.reads == []
    assert seqs(buffer.after(7)) == [8, 9]
    # Older frames are not in the buffer: the subscriber reads them from the store.
    assert buffer.after(3) is None


async def test_a_subscriber_too_far_behind_the_buffer_gets_none() -> None:
    hub = StreamHub(Store().read_gap, capacity=16)
    [buffer] = hub.subscribe(["c"], Waker())
    await hub.deliver(frames("c", *range(1, 41)))
    assert len(buffer.frames) == 16
    assert seqs(buffer.after(24)) == list(range(25, 41))
    assert seqs(buffer.after(39)) == [40]
    assert buffer.after(23) is None
    assert buffer.after(0) is None


async def test_frames_of_channels_nobody_listens_to_are_not_kept() -> None:
    store = Store()
    hub = StreamHub(store.read_gap, capacity=16)
    await hub.deliver(frames("c", 1, 2))
    assert hub.buffer("c") is None
    assert store.reads == []


async def test_unsubscribing_the_last_subscriber_frees_the_channel() -> None:
    hub = StreamHub(Store().read_gap, capacity=16)
    one, two = Waker(), Waker()
    buffers_one = hub.subscribe(["a", "b"], one)
    buffers_two = hub.subscribe(["b"], two)
    assert buffers_two[0] is buffers_one[1]
    await hub.deliver(frames("a", 1) + frames("b", 1))
    hub.unsubscribe(buffers_one, one)
    assert hub.buffer("a") is None
    assert hub.buffer("b") is buffers_two[0]
    hub.unsubscribe(buffers_two, two)
    assert hub.buffer("b") is None
    # A new subscriber starts a new, empty buffer.
    [fresh] = hub.subscribe(["b"], one)
    assert fresh is not buffers_two[0] and not fresh.frames


async def test_one_delivery_rings_every_subscriber_of_the_channel_only() -> None:
    hub = StreamHub(Store().read_gap, capacity=16)
    a, b, other = Waker(), Waker(), Waker()
    hub.subscribe(["c"], a)
    hub.subscribe(["c"], b)
    hub.subscribe(["d"], other)
    await hub.deliver(frames("c", 1))
    assert a.event.is_set() and b.event.is_set()
    assert not other.event.is_set()
    hub.ring_all()
    assert other.event.is_set()


async def test_a_failing_store_read_does_not_break_delivery() -> None:
    async def broken(channel: str, after: int, upto: int) -> list[Frame]:
        raise OSError("database down")

    hub = StreamHub(broken, capacity=16)
    [buffer] = hub.subscribe(["c"], Waker())
    await hub.deliver(frames("c", 1))
    await hub.deliver(frames("c", 3))
    # 2 could not be read: the buffer restarts after it, so nobody skips it silently.
    assert seqs(buffer.after(2)) == [3]
    assert buffer.after(1) is None
