"""Streams seen by a client: each piece with the time it arrived, and the check that a stream
really streamed (its pieces arrived apart, as the provider sent them) rather than in one piece
at the end, as a buffering proxy or a JSON body would deliver it.

The dev models `stream-gpt` and `stream-claude` (dev/litellm/slow_provider.py) send 8 distinct
chunks ("tick 1 " ... "tick 8 ") 150 ms apart."""

import time

STREAM_WORDS = [f"tick {number} " for number in range(1, 9)]


def timed(pieces):
    """[(seconds since the first piece, piece)] for an iterable that yields as data arrives."""
    arrivals, start = [], None
    for piece in pieces:
        now = time.monotonic()
        start = now if start is None else start
        arrivals.append((now - start, piece))
    return arrivals


def assert_spaced(arrivals, minimum_pieces=8, minimum_spread=0.5):
    """At least `minimum_pieces` pieces, and between the first and the last of them at least
    `minimum_spread` seconds, with no more than half of them in any one 50 ms window: a buffered
    stream arrives all at once."""
    times = [at for at, _ in arrivals]
    assert len(times) >= minimum_pieces, f"{len(times)} pieces: {arrivals}"
    assert times[-1] - times[0] >= minimum_spread, f"all pieces within {times[-1] - times[0]:.3f}s: {arrivals}"
    crowded = max(sum(1 for other in times if 0 <= other - at < 0.05) for at in times)
    assert crowded <= len(times) // 2, f"{crowded} of {len(times)} pieces in one 50 ms: {arrivals}"
