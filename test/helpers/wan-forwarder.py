#!/usr/bin/env python3
"""One emulated network path between two network namespaces, for Peerlane's tests and benchmarks.

This kernel has no netem qdisc, so the path is made in user space: a TUN device named wan0 in each
namespace, and this process carries every packet from one to the other as a real bottleneck link
does, in each direction independently:

  - serialisation at RATE_MBIT: packets leave the bottleneck one after another, spaced by their size
    over the rate (a link with no rate delivers a sender's whole window in one instant burst, which
    overflows the receiver's UDP socket buffer and measures the emulator instead of the path);
  - a drop-tail queue in front of it holding QUEUE_MS worth of the rate (what a router buffers);
  - a fixed one-way DELAY_MS after the bottleneck;
  - random loss LOSS (0..1) on arrival.

    python3 wan-forwarder.py NS_A NS_B DELAY_MS LOSS RATE_MBIT QUEUE_MS   # prints "ready"

The caller then addresses wan0 in both namespaces (test/helpers/wan-link.ts). SIGTERM/SIGKILL stops
it; the TUN devices go with it. Counters (forwarded, lost, queue drops) print on SIGUSR1.
"""
import ctypes, fcntl, heapq, os, random, selectors, signal, struct, sys, time

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def tun_in(namespace: str, name: str) -> int:
    """Opens a TUN device inside a named network namespace (this thread stays there afterwards)."""
    ns_fd = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    if libc.setns(ns_fd, CLONE_NEWNET) != 0:
        sys.exit(f"setns into {namespace} failed (errno {ctypes.get_errno()})")
    os.close(ns_fd)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    """One way through the path: the bottleneck's next free instant and its counters."""

    def __init__(self, out_fd: int, bytes_per_second: float, queue_seconds: float) -> None:
        self.out_fd = out_fd
        self.bytes_per_second = bytes_per_second
        self.queue_seconds = queue_seconds
        self.free_at = 0.0
        self.forwarded = self.lost = self.queue_drops = 0


def main() -> None:
    ns_a, ns_b = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) / 1000
    loss = float(sys.argv[4])
    bytes_per_second = float(sys.argv[5]) * 1e6 / 8
    queue_seconds = float(sys.argv[6]) / 1000
    a, b = tun_in(ns_a, "wan0"), tun_in(ns_b, "wan0")
    directions = {a: Direction(b, bytes_per_second, queue_seconds), b: Direction(a, bytes_per_second, queue_seconds)}
    signal.signal(signal.SIGUSR1, lambda *_: print(" ".join(f"{name}: forwarded {d.forwarded} lost {d.lost} queue_drops {d.queue_drops}" for name, d in (("a→b", directions[a]), ("b→a", directions[b]))), flush=True))
    print("ready", flush=True)
    selector = selectors.DefaultSelector()
    selector.register(a, selectors.EVENT_READ)
    selector.register(b, selectors.EVENT_READ)
    due: list = []  # (delivery time, arrival order, out fd, packet)
    order = 0
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else 1.0
        for key, _ in selector.select(timeout):
            direction = directions[key.fd]
            while True:
                try:
                    packet = os.read(key.fd, 65536)
                except BlockingIOError:
                    break
                if loss and random.random() < loss:
                    direction.lost += 1
                    continue
                now = time.monotonic()
                start = max(now, direction.free_at)
                if start - now > direction.queue_seconds:
                    direction.queue_drops += 1  # the router's buffer is full: drop-tail
                    continue
                direction.free_at = start + len(packet) / direction.bytes_per_second
                order += 1
                heapq.heappush(due, (direction.free_at + delay, order, direction.out_fd, packet))
                direction.forwarded += 1
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, out, packet = heapq.heappop(due)
            try:
                os.write(out, packet)
            except OSError:
                pass


if __name__ == "__main__":
    main()
