#!/usr/bin/env python3
"""Run the full scim2-tester suite against a running SCIM 2.0 server.

Usage::

    python run_scim2_tester.py BASE_URL TOKEN

``BASE_URL`` is the SCIM root, e.g. ``http://127.0.0.1:8080/scim/v2``, and
``TOKEN`` an admin key sent as ``Authorization: Bearer TOKEN``.

``scim2_tester.check_server`` (scim2-tester 0.5.2) runs with no tag and no
resource type filter, i.e. every check it knows: discovery
(ServiceProviderConfig, ResourceTypes, Schemas, 405 on write methods, 404 on
unknown ids), the random URL 404 check, and for every published resource type
POST/GET/list/attributes/excludedAttributes/POST /.search/PUT/DELETE plus the
PATCH add/remove/replace checks (skipped by the tester itself when the server
advertises ``patch.supported: false``).

Each result is printed on one line as ``STATUS<TAB>title<TAB>resource type<TAB>reason``,
details of the failed ones follow, then a summary. Exit status: 0 when every
result is SUCCESS, COMPLIANT, ACCEPTABLE or SKIPPED; 1 otherwise (ERROR,
CRITICAL, DEVIATION), when discovery fails, or when the tester crashes;
2 on bad usage.

HTTP engine: scim2-client's own ``httpx2`` engine is used when ``httpx2`` is
importable. Otherwise (the case of the pinned virtualenv, which ships neither
httpx nor httpx2) a small engine built on ``http.client`` from the standard
library is used, mimicking httpx semantics: endpoints are appended to the base
URL path, redirects are not followed, query parameters go through ``params``
and bodies through ``json``. Set ``SCIM_TESTER_HTTP=stdlib`` to force it.
``SCIM_TESTER_TIMEOUT`` (seconds, default 30) sets the per-request timeout.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import os
import ssl
import sys
import traceback
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

try:
    from scim2_client import BaseSyncSCIMClient
    from scim2_client.errors import RequestNetworkException
    from scim2_tester import Status
    from scim2_tester import check_server
except ImportError as exc:  # pragma: no cover - environment problem
    print(f"FATAL: cannot import scim2_tester / scim2_client: {exc}", file=sys.stderr)
    print("Run this script with the scim2-tester virtualenv python.", file=sys.stderr)
    sys.exit(1)

PASSING = {"SUCCESS", "COMPLIANT", "ACCEPTABLE", "SKIPPED"}
DISCOVERY_TITLES = {
    "service_provider_config_endpoint",
    "query_all_resource_types",
    "query_all_schemas",
    "service_description",
}
DETAIL_LIMIT = 3000


# --------------------------------------------------------------------------
# Standard-library HTTP engine for scim2-client
# --------------------------------------------------------------------------


class _Headers:
    """Case-insensitive, read-only response headers (``.get`` like httpx)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs

    def get(self, key: str, default: str | None = None) -> str | None:
        key = key.lower()
        for name, value in self._pairs:
            if name.lower() == key:
                return value
        return default

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class StdlibResponse:
    """The attributes of an httpx response that scim2-client and scim2-tester read."""

    def __init__(self, method: str, url: str, status_code: int, headers: _Headers, content: bytes):
        self.method = method
        self.url = url
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def __repr__(self) -> str:
        body = self.text
        body = body if len(body) <= 500 else body[:500] + "..."
        return f"<Response [{self.status_code}] {self.method} {self.url} body={body!r}>"


class StdlibSCIMClient(BaseSyncSCIMClient):
    """A synchronous scim2-client engine on top of :mod:`http.client`."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"BASE_URL must be an absolute http(s) URL, got {base_url!r}")
        self.base_url = base_url
        self._base = parts
        self.headers = dict(headers or {})
        self.timeout = timeout

    # URL handling, as httpx does with a base_url: a relative endpoint is
    # appended to the base path, whether it starts with '/' or not. Dot
    # segments are resolved, as they would be on the wire.
    def _build_url(self, url: str):
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
            raise ValueError(f"The URL {url!r} has control characters")
        parts = urlsplit(url)
        if not parts.scheme:
            base_path = self._base.path.rstrip("/")
            parts = self._base._replace(
                path=f"{base_path}/{parts.path.lstrip('/')}", query=parts.query
            )
        return parts._replace(path=_remove_dot_segments(parts.path), fragment="")

    @staticmethod
    def _origin(parts) -> tuple[str, str | None, int]:
        return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)

    def _stays_under_base_url(self, endpoint: str) -> bool:
        try:
            url = self._build_url(endpoint)
        except ValueError:
            return False
        prefix = f"{self._base.path.rstrip('/')}/"
        return self._origin(url) == self._origin(self._base) and f"{url.path.rstrip('/')}/".startswith(prefix)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        **_ignored: Any,
    ) -> StdlibResponse:
        try:
            target = self._build_url(url)
        except ValueError as exc:
            raise RequestNetworkException(message=f"Invalid URL {url!r}: {exc}") from exc

        query = target.query
        if params:
            encoded = urlencode(params, doseq=True)
            query = f"{query}&{encoded}" if query else encoded
        path = (target.path or "/") + (f"?{query}" if query else "")

        send_headers = dict(self.headers)
        body: bytes | None = content
        if json is not None:
            body = jsonlib.dumps(json).encode("utf-8")
            send_headers["Content-Type"] = "application/scim+json"
        for name, value in (headers or {}).items():
            for existing in [k for k in send_headers if k.lower() == name.lower()]:
                del send_headers[existing]
            send_headers[name] = value

        full_url = f"{target.scheme}://{target.netloc}{path}"
        if target.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                target.hostname or "", target.port, timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        else:
            conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=self.timeout)
        try:
            conn.request(method.upper(), path, body=body, headers=send_headers)
            response = conn.getresponse()
            data = response.read()
            pairs = list(response.getheaders())
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            raise RequestNetworkException(
                message=f"Network error during {method.upper()} {full_url}: {exc!r}"
            ) from exc
        finally:
            conn.close()
        return StdlibResponse(method.upper(), full_url, status, _Headers(pairs), data)


def _remove_dot_segments(path: str) -> str:
    segments = path.split("/")
    output: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if segments and segments[-1] in (".", ".."):
        output.append("")
    return "/".join(output) or "/"


def make_client(base_url: str, token: str) -> tuple[BaseSyncSCIMClient, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    timeout = float(os.environ.get("SCIM_TESTER_TIMEOUT", "30"))
    if os.environ.get("SCIM_TESTER_HTTP", "").lower() != "stdlib":
        try:
            from httpx2 import Client  # type: ignore[import-not-found]
            from scim2_client.engines.httpx2 import SyncSCIMClient
        except ImportError:
            pass
        else:
            http_client = Client(base_url=base_url, headers=headers, timeout=timeout)
            return SyncSCIMClient(http_client), "httpx2"
    return StdlibSCIMClient(base_url, headers=headers, timeout=timeout), "stdlib http.client"


# --------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------


def _one_line(value: Any) -> str:
    text = "" if value is None else str(value)
    return " | ".join(part.strip() for part in text.splitlines() if part.strip())


def _data_text(data: Any) -> str:
    if data is None:
        return ""
    try:
        if hasattr(data, "model_dump"):
            text = jsonlib.dumps(data.model_dump(mode="json"), default=str)
        elif isinstance(data, dict | list):
            text = jsonlib.dumps(data, default=str)
        else:
            text = repr(data)
    except Exception:  # noqa: BLE001 - best effort debug output
        text = repr(data)
    text = _one_line(text)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "...(truncated)"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} BASE_URL TOKEN", file=sys.stderr)
        return 2
    base_url, token = argv[1].rstrip("/"), argv[2]

    try:
        client, engine = make_client(base_url, token)
    except Exception as exc:  # noqa: BLE001
        print(f"FATAL: cannot build the SCIM client: {exc}")
        return 1
    print(f"# scim2-tester check_server against {base_url} (engine: {engine})")

    try:
        results = check_server(client, raise_exceptions=False)
    except Exception:  # noqa: BLE001
        print("FATAL: scim2-tester crashed:")
        traceback.print_exc(file=sys.stdout)
        return 1

    failures = []
    counts: dict[str, int] = {}
    for result in results:
        status = result.status.name if isinstance(result.status, Status) else str(result.status)
        counts[status] = counts.get(status, 0) + 1
        title = result.title or "?"
        print(f"{status}\t{title}\t{result.resource_type or '-'}\t{_one_line(result.reason)}")
        if status not in PASSING:
            failures.append((status, result))

    provider = client.provider
    discovery_ok = bool(provider.config) and bool(provider.resource_types)
    if not discovery_ok:
        print()
        print("DISCOVERY FAILED: the tester could not describe the server, so no resource check ran.")
        if not provider.config:
            print("  - no usable ServiceProviderConfig")
        if not provider.resource_types:
            print("  - no usable ResourceTypes/Schemas")
        for status, result in failures:
            if result.title in DISCOVERY_TITLES:
                print(f"  - {result.title}: {_one_line(result.reason)}")

    detailed = [(status, result, _data_text(result.data)) for status, result in failures]
    detailed = [entry for entry in detailed if entry[2]]
    if detailed:
        print()
        print("# Failure details (response or exception attached to each failed result)")
        for status, result, data in detailed:
            print(f"{status}\t{result.title}\t{result.resource_type or '-'}\t{data}")

    summary = ", ".join(f"{name}={count}" for name, count in sorted(counts.items()))
    print()
    print(f"# {len(results)} results: {summary or 'none'}")

    if not results:
        print("FAILED: the tester returned no result")
        return 1
    if failures or not discovery_ok:
        print("FAILED")
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
