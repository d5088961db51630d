"""A userspace TCP relay that adds a fixed round trip: the multi-host rig's stand-in for a network
hop to Redis on a kernel without the netem qdisc (docs/performance.md, "Several hosts"). It is
not netem: it delays whole reads (what one recv returned) and keeps their order, drops nothing,
and adds its own cost (one more hop through Python's asyncio, measured by its 0 ms row). The
whole round trip is added on the way to the target (asyncio's timers have a 1 ms granularity:
two half-delays would round to twice the wanted round trip); the rig measures the round trip
it got with PINGs through the relay.

    python3 bench/delay_relay.py LISTEN_HOST:PORT TARGET_HOST:PORT ROUND_TRIP_MS
"""

import asyncio
import sys
import time


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk written `delay` seconds after it was read."""
    queue: asyncio.Queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if delay and wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((0, None))
    try:
        await sender
    except ConnectionError:
        pass


async def main(listen, target, delay):
    target_host, target_port = target.rsplit(":", 1)

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, int(target_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, server_writer, delay), pump(server_reader, client_writer, 0.0))

    host, port = listen.rsplit(":", 1)
    server = await asyncio.start_server(handle, host, int(port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000))
