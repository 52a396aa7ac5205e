"""Network-level checks: TCP connect, TLS certificate expiry, DNS resolution."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime

from probes.checkers.base import (
    CheckResult,
    Stopwatch,
    latency_status,
    optional_number,
    raise_errors,
    require,
)


def _host_port(config: dict, errors: dict, default_port: int | None = None) -> tuple[str, int]:
    host = require(config, "host", str, errors)
    port = config.get("port", default_port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        errors["port"] = "A port between 1 and 65535."
    return host, port


class TCP:
    def clean(self, config: dict) -> dict:
        errors: dict[str, str] = {}
        host, port = _host_port(config, errors)
        optional_number(config, "latency_warn_ms", errors)
        optional_number(config, "latency_crit_ms", errors)
        raise_errors(errors)
        return {
            "host": host,
            "port": port,
            "latency_warn_ms": config.get("latency_warn_ms"),
            "latency_crit_ms": config.get("latency_crit_ms"),
        }

    def run(self, config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
        target = f"{config['host']}:{config['port']}"
        try:
            with (
                Stopwatch() as watch,
                socket.create_connection((config["host"], config["port"]), timeout=timeout),
            ):
                pass
        except TimeoutError:
            return CheckResult("critical", f"{target}: timed out after {timeout:g} s")
        except OSError as exc:
            return CheckResult("critical", f"{target}: {exc.strerror or exc}")
        status = latency_status(watch.ms, config)
        return CheckResult(
            status,
            f"{target} accepts connections in {watch.ms:.0f} ms",
            watch.ms,
            {"target": target},
        )


class TLS:
    def clean(self, config: dict) -> dict:
        errors: dict[str, str] = {}
        host, port = _host_port(config, errors, default_port=443)
        optional_number(config, "warn_days", errors)
        optional_number(config, "crit_days", errors)
        raise_errors(errors)
        return {
            "host": host,
            "port": port,
            "server_name": config.get("server_name") or host,
            "warn_days": config.get("warn_days", 21),
            "crit_days": config.get("crit_days", 7),
            "ca_file": config.get("ca_file", ""),
        }

    def run(self, config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
        context = ssl.create_default_context(cafile=config["ca_file"] or None)
        target = f"{config['host']}:{config['port']}"
        try:
            with (
                Stopwatch() as watch,
                socket.create_connection((config["host"], config["port"]), timeout=timeout) as raw,
                context.wrap_socket(raw, server_hostname=config["server_name"]) as tls,
            ):
                cert = tls.getpeercert()
        except ssl.SSLCertVerificationError as exc:
            return CheckResult(
                "critical",
                f"{target}: certificate not trusted: {exc.verify_message}",
                None,
                {"target": target},
            )
        except (OSError, ssl.SSLError) as exc:
            return CheckResult("critical", f"{target}: {exc}", None, {"target": target})
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), tz=UTC)
        days = (expires - datetime.now(tz=UTC)).total_seconds() / 86400
        status = (
            "critical"
            if days < config["crit_days"]
            else ("warning" if days < config["warn_days"] else "ok")
        )
        subject = dict(item[0] for item in cert.get("subject", ()))
        return CheckResult(
            status,
            f"certificate for {config['server_name']} expires in {days:.0f} days",
            watch.ms,
            {
                "target": target,
                "expires_at": expires.isoformat(),
                "days_left": round(days, 1),
                "subject": subject.get("commonName", ""),
                "issuer": dict(item[0] for item in cert.get("issuer", ())).get("commonName", ""),
            },
        )


class DNS:
    def clean(self, config: dict) -> dict:
        errors: dict[str, str] = {}
        hostname = require(config, "hostname", str, errors)
        expected = config.get("expected", []) or []
        if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
            errors["expected"] = "A list of addresses the name must resolve to."
        family = config.get("family", "any")
        if family not in ("any", "ipv4", "ipv6"):
            errors["family"] = "any, ipv4 or ipv6."
        optional_number(config, "latency_warn_ms", errors)
        raise_errors(errors)
        return {
            "hostname": hostname,
            "expected": expected,
            "family": family,
            "latency_warn_ms": config.get("latency_warn_ms"),
            "latency_crit_ms": None,
        }

    def run(self, config: dict, timeout: float, previous: dict | None = None) -> CheckResult:
        family = {"any": 0, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}[config["family"]]
        name = config["hostname"]
        try:
            with Stopwatch() as watch:
                infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return CheckResult("critical", f"{name} does not resolve: {exc.strerror}")
        addresses = sorted({info[4][0] for info in infos})
        missing = [a for a in config["expected"] if a not in addresses]
        if missing:
            return CheckResult(
                "critical",
                f"{name} resolves to {', '.join(addresses)}, not {', '.join(missing)}",
                watch.ms,
                {"addresses": addresses},
            )
        return CheckResult(
            latency_status(watch.ms, config),
            f"{name} → {', '.join(addresses)}",
            watch.ms,
            {"addresses": addresses},
        )


tcp, tls, dns = TCP(), TLS(), DNS()
