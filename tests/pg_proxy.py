"""A TCP proxy in front of PostgreSQL that can lose a commit's acknowledgement.

Tests point a ledger at the proxy (`PgProxy.url`) instead of the server. The
proxy forwards PostgreSQL's wire protocol both ways and reads the framing of
what the client sends: the startup message (an int32 length, no type byte),
then messages of a type byte and an int32 length. Armed (`arm`), it picks the
Nth COMMIT of a transaction that ran a statement containing a given text
(say "COPY", the ledger's insert of events): it forwards that COMMIT to the
server, swallows the server's answer, and cuts both connections once the
server has answered (so the server certainly committed, and the client never
learns it), or right away with `wait_for_reply=False` (then the outcome is
truly unknown). psycopg 3 sends a transaction's COMMIT as a simple query
('Q' with the text "COMMIT").

Encryption would hide the framing: the proxy answers an SSL or GSSAPI
encryption request itself with "N" (not supported), as a server without TLS
does, and the client goes on in clear.

Only 127.0.0.1; daemon threads; every socket has a timeout, so nothing
outlives the test that opened the proxy (`close`, or the `with` block).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

#: Request codes of a startup packet asking for SSL or GSSAPI encryption.
_ENCRYPTION_REQUESTS = (80877103, 80877104)
#: Seconds any one socket operation may block before the proxy checks whether it is closed.
_POLL = 0.2
#: Seconds the proxy waits for the server's answer to a COMMIT it is about to cut.
_REPLY_WAIT = 10.0


class _Link:
    """One client connection and its server connection."""

    def __init__(self, proxy: PgProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.closed = threading.Event()
        #: Set when the server's bytes must no longer reach the client.
        self.swallowing = threading.Event()
        #: Set when the server answered a swallowed COMMIT (ReadyForQuery seen).
        self.answered = threading.Event()
        #: Statements of the transaction under way, for the arming predicate.
        self.statements: list[str] = []
        #: The text of each statement the client prepared, by name: a prepared
        #: statement runs again with a Bind message alone, naming it.
        self.prepared: dict[bytes, str] = {}

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def read_exactly(self, sock: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            if self.closed.is_set():
                return None
            try:
                chunk = sock.recv(size - len(data))
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def send(self, sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
        except OSError:
            return False
        return True

    # --- client to server: framed, where COMMITs are found ------------------------

    def pump_client(self) -> None:
        try:
            if not self._startup():
                return
            while True:
                header = self.read_exactly(self.client, 5)
                if header is None:
                    return
                kind, length = header[:1], struct.unpack("!i", header[1:])[0]
                body = self.read_exactly(self.client, length - 4)
                if body is None:
                    return
                cut = self._note(kind, body)
                if cut:
                    self.swallowing.set()
                if not self.send(self.server, header + body):
                    return
                if cut:
                    if self.proxy.wait_for_reply:
                        self.answered.wait(_REPLY_WAIT)
                    self.proxy.cut_done.set()
                    return
        finally:
            self.close()

    def _startup(self) -> bool:
        while True:
            head = self.read_exactly(self.client, 8)
            if head is None:
                return False
            length, code = struct.unpack("!ii", head)
            if code in _ENCRYPTION_REQUESTS and length == 8:
                if not self.send(self.client, b"N"):
                    return False
                continue
            rest = self.read_exactly(self.client, length - 8)
            if rest is None:
                return False
            return self.send(self.server, head + rest)

    def _note(self, kind: bytes, body: bytes) -> bool:
        """Track the transaction's statements; whether this message is the COMMIT to cut."""
        if kind == b"Q":
            text = body.rstrip(b"\0").decode("utf-8", "replace").strip()
        elif kind == b"P":  # Parse: statement name, then the query text
            name_end = body.index(b"\0")
            text = body[name_end + 1 : body.index(b"\0", name_end + 1)].decode("utf-8", "replace")
            self.prepared[body[:name_end]] = text
        elif kind == b"B":  # Bind: portal name, then the prepared statement's name
            portal_end = body.index(b"\0")
            name = body[portal_end + 1 : body.index(b"\0", portal_end + 1)]
            if not name:  # the unnamed statement: its Parse was just noted
                return False
            text = self.prepared.get(name, "")
        else:
            return False
        command = text.upper().rstrip(";")
        if command in ("BEGIN", "ROLLBACK"):
            self.statements = []  # what ran outside the transaction is not part of it
            return False
        if command != "COMMIT":
            self.statements.append(text)
            return False
        statements, self.statements = self.statements, []
        return self.proxy.commit_seen(statements)

    # --- server to client: passed through, unless swallowed -----------------------

    def pump_server(self) -> None:
        try:
            while True:
                header = self.read_exactly(self.server, 5)
                if header is None:
                    return
                length = struct.unpack("!i", header[1:])[0]
                body = self.read_exactly(self.server, length - 4)
                if body is None:
                    return
                if self.swallowing.is_set():
                    if header[:1] == b"Z":  # ReadyForQuery: the COMMIT was answered
                        self.answered.set()
                    continue
                if not self.send(self.client, header + body):
                    return
        finally:
            if not self.swallowing.is_set():
                self.close()

    def pump_server_startup(self) -> None:
        # The server's messages are framed from its first byte on: an
        # encryption request never reaches it (the proxy answered it).
        self.pump_server()


class PgProxy:
    """Forwards 127.0.0.1:`port` to PostgreSQL; when armed, loses one COMMIT's answer."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(_POLL)
        self.port: int = self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.links: list[_Link] = []
        #: Commits still to let through before the one cut (None: not armed).
        self.countdown: int | None = None
        self.matching = ""
        self.wait_for_reply = True
        #: Commits cut so far, and set once the armed one is.
        self.cuts = 0
        self.cut_done = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="pg-proxy", daemon=True)
        self.thread.start()

    def url(self, ledger_url: str) -> str:
        """`ledger_url` (a postgresql:// URL) pointed at the proxy instead of the server."""
        parts = urlsplit(ledger_url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def arm(self, matching: str = "COPY", nth: int = 1, *, wait_for_reply: bool = True) -> None:
        """Cut the `nth` COMMIT, from now, of a transaction that ran a statement
        containing `matching` (case-sensitive)."""
        with self.lock:
            self.countdown = nth
            self.matching = matching
            self.wait_for_reply = wait_for_reply
            self.cut_done.clear()

    def disarm(self) -> None:
        with self.lock:
            self.countdown = None

    def commit_seen(self, statements: list[str]) -> bool:
        with self.lock:
            if self.countdown is None or not any(self.matching in s for s in statements):
                return False
            self.countdown -= 1
            if self.countdown > 0:
                return False
            self.countdown = None
            self.cuts += 1
            return True

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(_POLL)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client, server)
            with self.lock:
                self.links.append(link)
            threading.Thread(target=link.pump_client, daemon=True).start()
            threading.Thread(target=link.pump_server_startup, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            links = list(self.links)
        for link in links:
            link.close()
        self.thread.join(timeout=5)

    def __enter__(self) -> PgProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def pg_proxy(target_host: str = "127.0.0.1", target_port: int = 5432) -> Iterator[PgProxy]:
    proxy = PgProxy(target_host, target_port)
    try:
        yield proxy
    finally:
        proxy.close()
