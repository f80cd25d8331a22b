#!/usr/bin/env python3
"""A TCP fault proxy for scripts/fault-bench.sh (the same faults as
testkit's TcpProxy, for processes started from a shell).

    fault-proxy.py LISTEN_PORT UPSTREAM_HOST:PORT

Signals change what it does, on the same address throughout:
    SIGUSR1  cut: close every connection and refuse new ones
    SIGUSR2  blackhole: keep connections (accept new ones) but move no byte
    SIGHUP   restore: listen again, move bytes (held ones are delivered)
"""

import asyncio
import signal
import sys


class Proxy:
    def __init__(self, port, upstream):
        self.port = port
        host, _, up_port = upstream.rpartition(":")
        self.upstream = (host, int(up_port))
        self.server = None
        self.conns = set()
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def listen(self):
        if self.server is None:
            self.server = await asyncio.start_server(
                self.handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def handle(self, client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        pair = (client_w, server_w)
        self.conns.add(pair)
        try:
            await asyncio.gather(
                self.pipe(client_r, server_w), self.pipe(server_r, client_w)
            )
        except asyncio.CancelledError:
            pass
        finally:
            self.conns.discard(pair)
            for w in pair:
                w.close()

    async def pipe(self, reader, writer):
        try:
            while True:
                await self.flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                # Bytes read just before a blackhole wait for its end too.
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def cut(self):
        self.flowing.set()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for pair in list(self.conns):
            for w in pair:
                w.transport.abort()

    def blackhole(self):
        self.flowing.clear()

    async def restore(self):
        self.flowing.set()
        await self.listen()


async def main():
    proxy = Proxy(int(sys.argv[1]), sys.argv[2])
    await proxy.listen()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(proxy.cut()))
    loop.add_signal_handler(signal.SIGUSR2, proxy.blackhole)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(proxy.restore()))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
