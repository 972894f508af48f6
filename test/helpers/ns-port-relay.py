#!/usr/bin/env python3
"""Carries one TCP port of 127.0.0.1 out of a network namespace, for a driver outside it.

    ns-port-relay.py NAMESPACE PORT

Listens on 127.0.0.1:PORT where it is started, then enters NAMESPACE (setns) and relays each
connection to 127.0.0.1:PORT there. Why: puppeteer reaches Firefox's WebDriver BiDi socket by
TCP on 127.0.0.1, and a browser started inside a namespace listens on that namespace's loopback
(Chromium is driven over a pipe, which crosses namespaces by itself). One thread: setns applies
to the calling thread, so every socket made after it (the connections inward) is in NAMESPACE,
and the listener made before it is not. Prints "listening" once ready; stops on SIGTERM.
"""
import asyncio
import ctypes
import os
import signal
import socket
import sys

CLONE_NEWNET = 0x40000000


def enter_namespace(name: str) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(namespace: str, port: int) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    enter_namespace(namespace)

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            inner_reader, inner_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, inner_writer), pipe(inner_reader, client_writer))

    server = await asyncio.start_server(relay, sock=listener)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("listening", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
