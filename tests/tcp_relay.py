"""A loopback TCP relay between a client and a real broker, for losing what the network loses:
`hold_replies()` swallows everything the broker sends (a PUBACK, say) while the client's bytes
still get through, `cut()` drops every open connection, as a network that goes away does, and
`reset()` resets them."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class TcpRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._open: list[socket.socket] = []
        self._reset: set[socket.socket] = set()  # closed with an RST: the pumps send no FIN
        self._lock = threading.Lock()
        self._holding = threading.Event()
        self._let_through = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def hold_replies(self, after_bytes: int = 0) -> None:
        """Swallow the broker's bytes from now on, all but the first `after_bytes` (4: a new
        connection's MQTT 3.1.1 CONNACK gets through, nothing after it)."""
        self._let_through = after_bytes
        self._holding.set()

    def cut(self) -> None:
        """Close every open connection; new ones are relayed both ways again."""
        with self._lock:
            conns, self._open = self._open, []
            self._holding.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def reset(self) -> None:
        """Reset every open connection (RST, as a broker host that crashed or a NAT that forgot
        the connection answers); new ones are relayed both ways again."""
        with self._lock:
            conns, self._open = self._open, []
            self._holding.clear()
            self._reset.update(conns)
        for conn in conns:  # first: whichever closes a socket now resets it
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RD)  # wakes the pump's recv; sends nothing
            conn.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._open += [client, upstream]
            for src, dst, replies in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, replies), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if replies and self._holding.is_set():
                    data, self._let_through = data[: self._let_through], 0
                dst.sendall(data)
        for conn in (src, dst):
            with contextlib.suppress(OSError):
                if conn not in self._reset:
                    conn.shutdown(socket.SHUT_RDWR)
