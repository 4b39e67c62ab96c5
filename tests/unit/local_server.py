# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A server on 127.0.0.1 (or a UNIX socket) for unit tests that talk to a real peer (the Molecule scenarios use
real Postfix and Dovecot): a free port, an accept loop in a daemon thread, ``handle`` per connection."""

from __future__ import annotations

import socket
import threading
import typing as t


class LocalServer:
    """Listens on a free port of 127.0.0.1, or on the UNIX socket ``path`` when given (``port`` is then None). Each
    connection goes to ``handler`` when given, else to the subclass's ``handle(conn)``; with ``threaded`` each
    connection gets a thread of its own, else the accept loop handles them one after the other."""

    def __init__(self, *, backlog: int = 16, threaded: bool = True, path: str | None = None,
                 handler: t.Callable[[socket.socket], None] | None = None) -> None:
        self.threaded = threaded
        self.handler = handler
        self.path = path
        if path is None:
            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.port: int | None = self.listener.getsockname()[1]
        else:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(path)
            self.port = None
        self.listener.listen(backlog)
        threading.Thread(target=self._accept, daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        if self.handler is None:
            raise NotImplementedError("give a handler or override handle")
        self.handler(conn)

    def _accept(self) -> None:
        while True:
            try:
                conn, _peer = self.listener.accept()
            except OSError:
                return
            if self.threaded:
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
            else:
                self.handle(conn)

    def open(self) -> socket.socket:
        if self.path is None:
            return socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(self.path)
        return sock

    def close(self) -> None:
        self.listener.close()
