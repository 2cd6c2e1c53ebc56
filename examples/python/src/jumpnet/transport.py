"""HTTP to a set of nodes: failover, retries with backoff, timeouts, bearer token.

Every node of a Jumpnet cluster answers every call (followers forward writes to the leader), so the client
keeps a list of base URLs and sticks to the one that last worked. A call moves on to the next node when

* the connection cannot be made (refused, unreachable, connect timeout) — always safe, nothing was sent;
* the node answers 503 (no leader, not ready) — the node declined the call; ``Retry-After`` is honoured;
* the answer is lost after the request went out (reset, read timeout) or the node answers 504 (commit not
  reached in time) — only for calls marked *idempotent*: reads, and publishes that carry a producer id and
  sequence. Anything else raises :class:`~jumpnet.errors.Timeout` (outcome unknown) instead of guessing.

Between full rounds over all nodes it sleeps with capped exponential backoff and full jitter (a uniform pause
in ``[0, min(cap, first * 2**round)]``, so clients that lost the same leader do not retry in lockstep); it gives up
when ``retry_timeout`` seconds have passed, raising the last error.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlencode, urlsplit

from .errors import ConnectionFailed, JumpnetError, Timeout, TLSError, Unavailable, error_from_response

DEFAULT_SERVER = "http://127.0.0.1:9090"

Servers = Union[str, Sequence[str]]
# A client certificate: one PEM file holding the certificate and its key, or (certfile, keyfile).
ClientCert = Union[str, os.PathLike, Tuple[Union[str, os.PathLike], Union[str, os.PathLike]]]


@dataclass(frozen=True)
class Server:
    """One node's API endpoint."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> "Server":
        """Accepts ``http://host:port``, ``host:port``, ``:port`` (loopback) and ``https://...``."""
        text = text.strip().rstrip("/")
        if not text:
            raise ValueError("empty server address")
        if text.startswith(":"):
            text = "127.0.0.1" + text
        if "://" not in text:
            text = "http://" + text
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme in server address {text!r}")
        if not parts.hostname:
            raise ValueError(f"no host in server address {text!r}")
        port = parts.port or (443 if parts.scheme == "https" else 9090)
        return cls(parts.scheme, parts.hostname, port)


def parse_servers(servers: Optional[Servers]) -> List[Server]:
    """A list of servers from a list, a comma-separated string, or ``$JUMPNET_SERVER``."""
    if servers is None:
        servers = os.environ.get("JUMPNET_SERVER") or DEFAULT_SERVER
    if isinstance(servers, str):
        servers = [s for s in servers.split(",") if s.strip()]
    parsed: List[Server] = []
    for s in servers:
        server = s if isinstance(s, Server) else Server.parse(s)
        if server not in parsed:
            parsed.append(server)
    if not parsed:
        raise ValueError("no server address given")
    return parsed


def path_of(*segments: str) -> str:
    """Join path segments, percent-encoding each (topic names are user input)."""
    return "/" + "/".join(quote(str(s), safe="") for s in segments)


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    server: str

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


class Transport:
    """Sends requests to the first node that can take them.

    ``timeout`` bounds each connect and each wait for an answer (seconds); ``retry_timeout`` bounds the whole
    call including retries on other nodes; ``backoff`` is the first and the largest pause between rounds.
    Thread-safe: every request opens its own connection.

    ``https://`` servers are verified against the system's CAs plus ``cacert`` (a PEM file, default
    ``$JUMPNET_CACERT``, e.g. the CA ``jumpnet dev --tls`` prints); ``verify`` may instead be an
    :class:`ssl.SSLContext` of your own. A certificate that does not verify raises :class:`TLSError` at once
    (another node would present the same kind of certificate), not after ``retry_timeout``.

    ``cert`` is the client certificate presented to nodes that require one (``--tls-client-ca``), as in
    ``requests``: a ``(certfile, keyfile)`` pair, or one PEM file holding both (default ``$JUMPNET_CERT`` and
    ``$JUMPNET_CERT_KEY``). A node that refuses the certificate (or wants one and got none) raises
    :class:`TLSError` at once too.
    """

    def __init__(
        self,
        servers: Optional[Servers] = None,
        *,
        token: Optional[str] = None,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        backoff: Tuple[float, float] = (0.05, 2.0),
        user_agent: str = "jumpnet-python",
        cacert: Optional[str] = None,
        verify: Optional[ssl.SSLContext] = None,
        cert: Optional[ClientCert] = None,
    ) -> None:
        self._servers = parse_servers(servers)
        self.cacert = cacert if cacert is not None else os.environ.get("JUMPNET_CACERT") or None
        self.cert = cert if cert is not None else _cert_from_env()
        self.ssl_context = verify or tls_context(self.cacert, self.cert)
        self.token = token if token is not None else os.environ.get("JUMPNET_TOKEN") or None
        self.timeout = timeout
        self.retry_timeout = retry_timeout
        self.backoff = backoff
        self.user_agent = user_agent
        self._current = 0
        self._lock = threading.Lock()

    # -- servers ---------------------------------------------------------------------------------------

    @property
    def servers(self) -> List[str]:
        with self._lock:
            return [s.url for s in self._servers]

    @property
    def current(self) -> str:
        """The node calls go to first."""
        with self._lock:
            return self._servers[self._current].url

    def add_servers(self, servers: Iterable[str]) -> None:
        """Learn more nodes (e.g. from ``GET /v1/cluster``); known ones are kept in place."""
        with self._lock:
            for s in servers:
                server = Server.parse(s)
                if server not in self._servers:
                    self._servers.append(server)

    def _pick(self) -> Tuple[int, Server]:
        with self._lock:
            return self._current, self._servers[self._current]

    def _failed(self, index: int) -> None:
        """Move on from a node that failed, unless another thread already did."""
        with self._lock:
            if self._current == index:
                self._current = (index + 1) % len(self._servers)

    def _node_count(self) -> int:
        with self._lock:
            return len(self._servers)

    # -- requests --------------------------------------------------------------------------------------

    def headers(self, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        h = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if extra:
            h.update(extra)
        return h

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        idempotent: bool = True,
        timeout: Optional[float] = None,
        retry_timeout: Optional[float] = None,
    ) -> Response:
        """One call with failover; returns the first non-error answer or raises a :class:`JumpnetError`."""
        target = path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                target += "?" + urlencode(q)
        payload = None
        headers = self.headers()
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        timeout = self.timeout if timeout is None else timeout
        retry = _Retry(self, retry_timeout)
        while True:
            index, server = self._pick()
            try:
                return self._once(server, method, target, payload, headers, timeout)
            except JumpnetError as err:
                if not _retryable(err, idempotent):
                    raise
                self._failed(index)
                retry.after(err)

    def _once(
        self,
        server: Server,
        method: str,
        target: str,
        payload: Optional[bytes],
        headers: Mapping[str, str],
        timeout: float,
    ) -> Response:
        conn = connect(server, timeout, self.ssl_context)
        try:
            try:
                conn.request(method, target, body=payload, headers=dict(headers))
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                refused = client_cert_refused(e, server)
                if refused is not None:
                    raise refused from e
                raise _Lost(f"{method} {target}: no answer ({e.__class__.__name__}: {e})", server=server.url) from e
        finally:
            conn.close()
        if resp.status >= 400:
            raise error_from_response(
                resp.status, data, server=server.url, retry_after=_retry_after(resp.getheader("Retry-After"))
            )
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, server.url)

    def open(
        self,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        retry_timeout: Optional[float] = None,
    ) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse, str]:
        """Open a streaming GET (SSE) with the same failover rules; the caller reads and closes it."""
        target = path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                target += "?" + urlencode(q)
        h = self.headers(headers)
        h["Accept"] = "text/event-stream"
        timeout = self.timeout if timeout is None else timeout
        retry = _Retry(self, retry_timeout)
        while True:
            index, server = self._pick()
            try:
                conn = connect(server, timeout, self.ssl_context)
                try:
                    conn.request("GET", target, headers=h)
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    refused = client_cert_refused(e, server)
                    if refused is not None:
                        raise refused from e
                    raise _Lost(f"GET {target}: no answer ({e})", server=server.url) from e
                if resp.status >= 400:
                    data = resp.read()
                    conn.close()
                    raise error_from_response(
                        resp.status, data, server=server.url, retry_after=_retry_after(resp.getheader("Retry-After"))
                    )
                return conn, resp, server.url
            except JumpnetError as err:
                if not _retryable(err, True):
                    raise
                self._failed(index)
                retry.after(err)


class _Lost(Timeout):
    """The request went out but no (complete) answer came back."""

    status = None


class _Retry:
    """Retry budget of one call: immediate failover within a round, backoff between rounds."""

    def __init__(self, transport: Transport, retry_timeout: Optional[float]) -> None:
        self.transport = transport
        budget = transport.retry_timeout if retry_timeout is None else retry_timeout
        self.deadline = time.monotonic() + budget
        self.rounds = 0
        self.failures = 0

    def after(self, err: JumpnetError) -> None:
        """Sleep as needed before the next attempt, or re-raise ``err`` when the budget is spent."""
        self.failures += 1
        now = time.monotonic()
        if now >= self.deadline:
            raise _final(err)
        pause = 0.0
        if self.failures % self.transport._node_count() == 0:
            # Every node was tried once in this round: back off before the next one.
            pause = backoff_pause(self.rounds, *self.transport.backoff)
            self.rounds += 1
        if err.retry_after is not None:
            pause = max(pause, min(err.retry_after, self.transport.backoff[1]))
        if now + pause >= self.deadline:
            raise _final(err)
        if pause:
            time.sleep(pause)


def backoff_pause(attempt: int, first: float, cap: float, rng: Optional[random.Random] = None) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, first * 2**attempt)]`` seconds."""
    return (rng or random).uniform(0.0, min(cap, first * 2.0 ** min(attempt, 64)))


def _final(err: JumpnetError) -> JumpnetError:
    if isinstance(err, _ConnectError):
        return ConnectionFailed(f"no node reachable: {err.message}", server=err.server)
    if isinstance(err, _Lost):
        return Timeout(err.message, server=err.server)
    return err


class _ConnectError(Unavailable):
    status = None


def _retryable(err: JumpnetError, idempotent: bool) -> bool:
    if isinstance(err, Unavailable):  # refused connection or 503: the node did not take the call
        return True
    if isinstance(err, Timeout) or err.status == 502:  # it may have: only a repeatable call goes again
        return idempotent
    return False


def _cert_from_env() -> Optional[ClientCert]:
    """``$JUMPNET_CERT`` (and ``$JUMPNET_CERT_KEY``), as the CLI reads them."""
    cert = os.environ.get("JUMPNET_CERT") or None
    key = os.environ.get("JUMPNET_CERT_KEY") or None
    if key and not cert:
        raise ValueError("JUMPNET_CERT_KEY is set without JUMPNET_CERT (the client certificate it is the key of)")
    if cert and key:
        return (cert, key)
    return cert


def tls_context(cacert: Optional[str] = None, cert: Optional[ClientCert] = None) -> ssl.SSLContext:
    """The system's trusted CAs plus those of ``cacert`` (PEM), TLS 1.2 or newer; presenting ``cert`` (a
    ``(certfile, keyfile)`` pair or one PEM file holding both) to servers that ask for a client certificate.
    A file that is missing, not PEM, or a key that is not the certificate's raises :class:`ValueError`."""
    ctx = ssl.create_default_context()
    if cacert:
        ctx.load_verify_locations(cafile=cacert)
    if cert:
        certfile, keyfile = cert if isinstance(cert, (tuple, list)) else (cert, None)
        try:
            ctx.load_cert_chain(certfile=certfile, keyfile=keyfile)
        except (OSError, ssl.SSLError) as e:
            what = f"cert=({certfile!s}, {keyfile!s})" if keyfile else f"cert={certfile!s}"
            raise ValueError(f"{what}: cannot load the client certificate and key: {e}") from e
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# The server's verdict on our client certificate, as OpenSSL names the alert it sent.
_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_UNKNOWN",
    "UNSUPPORTED_CERTIFICATE",
    "ACCESS_DENIED",
    "DECRYPT_ERROR",
)


def client_cert_refused(err: BaseException, server: Server) -> Optional[TLSError]:
    """A :class:`TLSError` when ``err`` is the server refusing our client certificate (or asking for one we
    did not give); in TLS 1.3 it arrives with the first read, after the request went out, but nothing was
    processed. Another node would refuse it the same way: not retried."""
    if not isinstance(err, ssl.SSLError) or isinstance(err, ssl.SSLCertVerificationError):
        return None
    reason = getattr(err, "reason", None) or ""
    if not any(a in reason for a in _CLIENT_CERT_ALERTS):
        return None
    if "CERTIFICATE_REQUIRED" in reason:
        text = "the server requires a client certificate"
    else:
        text = "the server refused our client certificate"
    return TLSError(
        f"{text} ({reason}); pass one signed by a CA it trusts (cert=(CERTFILE, KEYFILE) or JUMPNET_CERT and "
        "JUMPNET_CERT_KEY)",
        server=server.url,
    )


def connect(
    server: Server, timeout: float, context: Optional[ssl.SSLContext] = None
) -> http.client.HTTPConnection:
    """A connected HTTP connection; failures here mean nothing was sent."""
    if server.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            server.host, server.port, timeout=timeout, context=context or tls_context()
        )
    else:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except ssl.SSLCertVerificationError as e:
        conn.close()
        raise TLSError(
            f"the server's certificate is not trusted ({e.verify_message}); pass the CA that signed it "
            "(cacert=FILE or JUMPNET_CACERT)",
            server=server.url,
        ) from e
    except OSError as e:
        conn.close()
        refused = client_cert_refused(e, server)
        if refused is not None:  # TLS 1.2: the verdict comes within the handshake
            raise refused from e
        raise _ConnectError(f"cannot connect: {e}", server=server.url) from e
    return conn


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
