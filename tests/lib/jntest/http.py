"""A small JSON client for one Jumpnet node's HTTP API (SPEC section 3, docs/broker-contract.md)."""

from __future__ import annotations

from typing import Any, Iterable

import requests

# connect, read: a node that is partitioned or restarting must not hang a test.
DEFAULT_TIMEOUT = (2.0, 20.0)


class Node:
    """One node's API at ``base_url`` (e.g. ``http://10.89.0.5:9090``).

    The methods return ``requests.Response`` for calls whose status a test checks, and decoded JSON
    (raising on a non-2xx status) for calls a test only reads through.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout=DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"Node({self.base_url})"

    # -- raw calls ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, timeout=None, **kw) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=timeout or self.timeout, **kw)

    def get_json(self, path: str, **kw) -> Any:
        r = self.request("GET", path, **kw)
        r.raise_for_status()
        return r.json()

    # -- probes ------------------------------------------------------------------------------
    def livez(self) -> bool:
        return self.request("GET", "/livez", timeout=(1.0, 2.0)).status_code == 200

    def readyz(self) -> bool:
        return self.request("GET", "/readyz", timeout=(1.0, 2.0)).status_code == 200

    # -- messages ----------------------------------------------------------------------------
    def publish(self, topic: str, values: Iterable[str], *, timeout=None, producer_id: str | None = None,
                sequence: int | None = None) -> requests.Response:
        body: dict[str, Any] = {"messages": [{"value": v} for v in values]}
        if producer_id is not None:
            body["producer_id"], body["sequence"] = producer_id, sequence
        return self.request("POST", f"/v1/topics/{topic}/messages", json=body, timeout=timeout)

    def publish_ok(self, topic: str, values: Iterable[str]) -> dict:
        r = self.publish(topic, list(values))
        assert r.status_code == 200, f"publish via {self}: {r.status_code} {r.text}"
        return r.json()

    def read(self, topic: str, offset: int = 0, limit: int = 1000, strong: bool = False) -> dict:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if strong:
            params["consistency"] = "strong"
        return self.get_json(f"/v1/topics/{topic}/messages", params=params)

    def read_all_values(self, topic: str, strong: bool = False) -> list[str]:
        """Every retained value of ``topic``, oldest first, following ``next_offset`` to the end."""
        values: list[str] = []
        offset = 0
        while True:
            page = self.read(topic, offset=offset, strong=strong)
            msgs = page.get("messages", [])
            values.extend(m["value"] for m in msgs)
            if not msgs or page["next_offset"] >= page["high_watermark"]:
                return values
            offset = page["next_offset"]

    # -- cluster -----------------------------------------------------------------------------
    def cluster(self, local: bool = False) -> dict:
        return self.get_json("/v1/cluster", params={"local": "true"} if local else None)
