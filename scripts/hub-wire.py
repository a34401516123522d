"""An HTTP proxy between keepwatch agents and their hub that counts what
crosses the wire: bytes each way (headers included) and the samples in the
batches it carries (their zlib JSON opened). scripts/bench-hub.sh starts it;
it writes its totals to FILE every second, as one JSON line.

    python3 scripts/hub-wire.py LISTEN_PORT HUB_PORT FILE
"""

import asyncio
import json
import os
import sys
import time
import zlib


totals = {"requests": 0, "bytes_up": 0, "bytes_down": 0, "samples": 0}


async def message(reader):
    """One HTTP message: its head and its body (by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head, body


def samples(head, body):
    if b"/api/v1/ingest" not in head.split(b"\r\n")[0]:
        return 0
    if b"content-encoding: deflate" in head.lower():
        body = zlib.decompress(body)
    batch = json.loads(body)
    return sum(len(series["t"]) for series in batch.get("series", []))


async def serve(client_reader, client_writer, hub_port):
    hub_reader, hub_writer = await asyncio.open_connection("127.0.0.1", hub_port)
    try:
        while True:
            head, body = await message(client_reader)
            hub_writer.write(head + body)
            await hub_writer.drain()
            answer_head, answer_body = await message(hub_reader)
            client_writer.write(answer_head + answer_body)
            await client_writer.drain()
            totals["requests"] += 1
            totals["bytes_up"] += len(head) + len(body)
            totals["bytes_down"] += len(answer_head) + len(answer_body)
            if answer_head.startswith(b"HTTP/1.1 200"):
                totals["samples"] += samples(head, body)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        hub_writer.close()
        client_writer.close()


async def report(path):
    while True:
        await asyncio.sleep(1)
        with open(path + ".tmp", "w") as out:
            out.write(json.dumps(dict(totals, at=time.time())) + "\n")

        os.replace(path + ".tmp", path)


async def main():
    listen, hub_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, hub_port), "127.0.0.1", listen
    )
    async with server:
        await asyncio.gather(server.serve_forever(), report(path))


asyncio.run(main())
