"""HTTP(S) endpoint checks: status, latency, JSON body expectations, TLS verification."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import ssl
from collections.abc import Hashable, Iterable
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx

from probes.checkers.base import (
    CheckResult,
    latency_status,
    optional_number,
    raise_errors,
    worst,
)

METHODS = {"GET", "HEAD", "POST", "OPTIONS"}
OPERATORS = ("==", "!=", ">=", "<=", ">", "<", " contains ", " exists")
BODY_PREVIEW = 300


def parse_expectation(text: str) -> dict:
    """`services.database == "healthy"` → {"path": "services.database", "op": "==",
    "value": "healthy"}; the value is a JSON literal (a bare word is taken as a string)."""
    for op in OPERATORS:
        if op.strip() == "exists" and text.rstrip().endswith(" exists"):
            return {"path": text.rstrip()[: -len(" exists")].strip(), "op": "exists", "value": None}
        if op in text:
            path, _, raw = text.partition(op)
            raw = raw.strip()
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            return {"path": path.strip(), "op": op.strip(), "value": value}
    raise ValueError(f"no operator in {text!r} (use ==, !=, <, <=, >, >=, contains, exists)")


def clean(config: dict) -> dict:
    errors: dict[str, str] = {}
    url = config.get("url", "")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # "https://[project].example.co/": brackets are for IPv6 only
        parts = None
    if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = "Give a full http:// or https:// URL."
    method = str(config.get("method", "GET")).upper()
    if method not in METHODS:
        errors["method"] = f"One of {', '.join(sorted(METHODS))}."
    expected = config.get("expected_status", "2xx")
    if not _valid_expected(expected):
        errors["expected_status"] = 'A status such as 200, a list [200, 204], or "2xx".'
    optional_number(config, "latency_warn_ms", errors)
    optional_number(config, "latency_crit_ms", errors)
    expectations = []
    for item in config.get("expect", []) or []:
        try:
            expectations.append(parse_expectation(item) if isinstance(item, str) else item)
        except ValueError as exc:
            errors["expect"] = str(exc)
    headers = config.get("headers", {}) or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        errors["headers"] = "A mapping of header names to strings (no secrets: use env vars)."
    raise_errors(errors)
    return {
        "url": url,
        "method": method,
        "expected_status": expected,
        "follow_redirects": bool(config.get("follow_redirects", False)),
        "verify_tls": bool(config.get("verify_tls", True)),
        "latency_warn_ms": config.get("latency_warn_ms"),
        "latency_crit_ms": config.get("latency_crit_ms"),
        "expect": expectations,
        "headers": headers,
    }


def _valid_expected(expected: Any) -> bool:
    if isinstance(expected, int) and not isinstance(expected, bool):
        return 100 <= expected <= 599
    if isinstance(expected, str):
        return len(expected) == 3 and expected[0] in "12345" and expected[1:] == "xx"
    if isinstance(expected, list):
        return bool(expected) and all(_valid_expected(e) for e in expected)
    return False


def status_expected(code: int, expected: Any) -> bool:
    if isinstance(expected, list):
        return any(status_expected(code, e) for e in expected)
    if isinstance(expected, str):
        return str(code)[0] == expected[0]
    return code == expected


def lookup(document: Any, path: str) -> tuple[bool, Any]:
    current = document
    for part in path.split(".") if path else []:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def check_expectation(document: Any, expectation: dict) -> str | None:
    """None when it holds, else what was found."""
    found, value = lookup(document, expectation["path"])
    op, wanted = expectation["op"], expectation["value"]
    if op == "exists":
        return None if found else f"{expectation['path']} is missing"
    if not found:
        return f"{expectation['path']} is missing"
    try:
        holds = {
            "==": lambda: value == wanted,
            "!=": lambda: value != wanted,
            ">": lambda: value > wanted,
            ">=": lambda: value >= wanted,
            "<": lambda: value < wanted,
            "<=": lambda: value <= wanted,
            "contains": lambda: wanted in value,
        }[op]()
    except TypeError:
        holds = False
    return (
        None
        if holds
        else f"{expectation['path']} is {json.dumps(value)}, expected {op} {json.dumps(wanted)}"
    )


def evaluate(response: httpx.Response, elapsed_ms: float, config: dict) -> CheckResult:
    details: dict[str, Any] = {
        "status_code": response.status_code,
        "url": str(response.url),
        "http_version": response.http_version,
    }
    if response.history:
        details["redirects"] = [str(r.url) for r in response.history]
    problems: list[str] = []
    status = latency_status(elapsed_ms, config)
    if not status_expected(response.status_code, config["expected_status"]):
        problems.append(f"HTTP {response.status_code}, expected {config['expected_status']}")
        details["body"] = response.text[:BODY_PREVIEW]
        status = "critical"
    if config["expect"]:
        try:
            document = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            document = None
            problems.append("body is not JSON")
        failures = [
            m
            for e in config["expect"]
            if document is not None and (m := check_expectation(document, e))
        ]
        problems.extend(failures)
        if failures or document is None:
            status = "critical"
            details["body"] = response.text[:BODY_PREVIEW]
    if problems:
        summary = "; ".join(problems)
    else:
        summary = f"HTTP {response.status_code} in {elapsed_ms:.0f} ms"
        if status != "ok":
            summary += " (slow)"
    return CheckResult(worst("ok", status), summary, elapsed_ms, details)


def failure(exc: Exception, config: dict, timeout: float) -> CheckResult:
    if isinstance(exc, httpx.TimeoutException):
        summary = f"timed out after {timeout:g} s"
    elif (
        isinstance(exc, httpx.ConnectError)
        and isinstance(exc.__cause__, ssl.SSLError)
        or ("CERTIFICATE_VERIFY_FAILED" in str(exc))
    ):
        summary = f"TLS verification failed: {exc}"
    elif isinstance(exc, httpx.ConnectError):
        summary = f"cannot connect: {exc}"
    else:
        summary = f"{type(exc).__name__}: {exc}"
    return CheckResult("critical", summary[:300], None, {"url": config["url"]})


def run(config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
    with httpx.Client(verify=config["verify_tls"], timeout=timeout) as client:
        try:
            response = client.request(
                config["method"],
                config["url"],
                headers=config["headers"],
                follow_redirects=config["follow_redirects"],
            )
        except httpx.HTTPError as exc:
            return failure(exc, config, timeout)
    return evaluate(response, round(response.elapsed.total_seconds() * 1000, 2), config)


async def arun(client: httpx.AsyncClient, config: dict, timeout: float) -> CheckResult:
    try:
        response = await asyncio.wait_for(
            client.request(
                config["method"],
                config["url"],
                headers=config["headers"],
                follow_redirects=config["follow_redirects"],
                timeout=timeout,
            ),
            timeout + 1,
        )
    except (httpx.HTTPError, TimeoutError) as exc:
        return failure(
            exc if isinstance(exc, httpx.HTTPError) else httpx.TimeoutException("timeout"),
            config,
            timeout,
        )
    return evaluate(response, round(response.elapsed.total_seconds() * 1000, 2), config)


# Checks per connection pool in a batch. httpcore's pool looks through all its connections
# for every request it places, so one pool of 1,000 costs O(n²); pools of 10 keep a batch of
# 1,000 close to the slowest answer instead of several times it (bench/probes.py).
POOL_SHARD = 10


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(verifying, not verifying): built once per batch, shared by all its pools."""
    verifying = ssl.create_default_context(cafile=certifi.where())
    lenient = ssl.create_default_context()
    lenient.check_hostname = False
    lenient.verify_mode = ssl.CERT_NONE
    return verifying, lenient


def run_many(
    checks: Iterable[tuple[Hashable, dict, float]], shard: int = POOL_SHARD
) -> dict[Hashable, CheckResult]:
    """Run many HTTP checks concurrently on one event loop, in pools of `shard` checks."""
    checks = list(checks)
    verifying, lenient = tls_contexts()
    limits = httpx.Limits(max_connections=shard, max_keepalive_connections=shard)

    async def run_shard(part: list[tuple[Hashable, dict, float]]) -> list[CheckResult]:
        async with (
            httpx.AsyncClient(verify=verifying, limits=limits) as verified,
            httpx.AsyncClient(verify=lenient, limits=limits) as unverified,
        ):
            return await asyncio.gather(
                *(
                    arun(verified if config["verify_tls"] else unverified, config, timeout)
                    for _, config, timeout in part
                )
            )

    async def main() -> dict[Hashable, CheckResult]:
        parts = [checks[i : i + shard] for i in range(0, len(checks), shard)]
        results = [r for part in await asyncio.gather(*map(run_shard, parts)) for r in part]
        return {key: result for (key, _, _), result in zip(checks, results, strict=True)}

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Called from code that already runs an event loop in this thread (an async
    # view, or a library such as Playwright's sync API): asyncio.run() refuses to
    # nest, so the batch gets its own loop on a short-lived thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()
