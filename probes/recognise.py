"""Runbook commands the console can run itself, as typed probes.

A step's code is read as shell words (`shlex`), never executed: `curl -I URL` becomes an HTTP
probe, `redis-cli … ping` a Redis probe, `psql … -c "SELECT 1;"` and read-only queries on
`pg_stat_activity` a PostgreSQL probe, `stripe events list` a Stripe probe. Anything that
changes state (`curl -X POST`, `pg_terminate_backend`, `psql -f backup.sql`, `stripe
trigger`), needs a secret written into the command, or names a placeholder host is left
alone: a responder runs those by hand.

Secrets never come from the runbook. A PostgreSQL, Redis or Stripe probe names the
environment variable the console reads its connection from (`$DATABASE_URL` in the command
is kept). A command bound to the console's own services must name them (no host, localhost,
or the variable); one naming another host, or a placeholder host (`xxx.supabase.co`,
`redis.example.com`, `[project]`), is left for a person.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from probes.checkers import CHECKERS

# `$NAME` or `${NAME}` as a whole word: an environment variable the command reads.
ENV_WORD = re.compile(r"^\$\{?([A-Z][A-Z0-9_]*)\}?$")
# Shell operators that end the first command of a line; `<` and `>` make it a file job.
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = {"<", ">", ">>", "<<"}
WRITE_SQL = re.compile(
    r"\b(insert|update|delete|drop|alter|truncate|create|grant|revoke|vacuum|reindex|copy|"
    r"pg_terminate_backend|pg_cancel_backend|pg_reload_conf|set_config|lo_import)\b",
    re.IGNORECASE,
)
READ_ONLY_REDIS = {"ping", "info"}
READ_ONLY_STRIPE = {
    ("events", "list"),
    ("payments", "list"),
    ("charges", "list"),
    ("webhook_endpoints", "list"),
    ("balance", "retrieve"),
}


@dataclass(frozen=True)
class Recognised:
    kind: str
    config: dict[str, Any]
    command: str
    label: str

    @property
    def key(self) -> str:
        """Same check, same key: the kind and its cleaned configuration, hashed."""
        canonical = json.dumps({"kind": self.kind, "config": self.config}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "config": self.config,
            "command": self.command,
            "label": self.label,
        }


def recognise_step(code: list[dict]) -> Recognised | None:
    """The first recognisable check among a step's code blocks ({lang, content} dicts)."""
    for block in code:
        found = recognise_block(block.get("content", ""), block.get("lang", ""))
        if found is not None:
            return found
    return None


def recognise_block(content: str, lang: str = "") -> Recognised | None:
    if lang.lower() in ("sql", "postgresql", "psql", "pgsql"):
        return _sql(content, env="DATABASE_URL", command=content.strip())
    for line in logical_lines(content):
        found = recognise_command(line)
        if found is not None:
            return found
    return None


def logical_lines(content: str) -> list[str]:
    """Commands one per entry: backslash continuations and quoted strings that span lines
    (`psql -c "` then the query then `"`) joined; prompts and comment lines dropped."""
    lines: list[str] = []
    pending = ""
    for raw in content.splitlines():
        stripped = raw.strip()
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        line = (pending + stripped).strip()
        if line and not _balanced(line):
            pending = line + " "
            continue
        pending = ""
        if line.startswith("$ "):
            line = line[2:]
        if line and not line.startswith("#"):
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _balanced(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return False
    return True


def first_command(line: str) -> list[str] | None:
    """The words of the line's first command; None if it can't be read or uses a file."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:  # unbalanced quotes: a multi-line string cut by the block
        return None
    command: list[str] = []
    for word in words:
        if word in SEPARATORS:
            break
        if word in REDIRECTS:
            return None
        command.append(word)
    return command or None


def recognise_command(line: str) -> Recognised | None:
    words = first_command(line)
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    handler = {"curl": _curl, "redis-cli": _redis, "psql": _psql, "stripe": _stripe}.get(program)
    return handler(words[1:], line) if handler else None


def _valid(kind: str, config: dict) -> dict | None:
    try:
        return CHECKERS[kind].clean(config)
    except ValidationError:
        return None


def _placeholder(text: str) -> bool:
    return any(mark in text for mark in ("[", "]", "$", "{", "}", "<", ">"))


# Hosts written for the reader to replace: RFC 2606/6761 names, runs of x (`xxx.supabase.co`),
# "your-…"/"my-project" words. A check against one would test nothing real.
PLACEHOLDER_HOST = re.compile(
    r"(^|\.)(example\.(com|org|net)|example|invalid|test)$"
    r"|(^|[.-])x{3,}([.-]|$)"
    r"|(^|[.-])(your|my)-?(project|domain|host|app|company|org|server|db|redis)\b"
    r"|project-?(ref|id|name)|placeholder|changeme|hostname"
)


def placeholder_host(host: str) -> bool:
    host = host.strip().lower().rstrip(".")
    return not host or _placeholder(host) or bool(PLACEHOLDER_HOST.search(host))


def _url_host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# Options whose value is the next word; their values are read or skipped.
CURL_VALUE_OPTIONS = {
    "-X",
    "--request",
    "-H",
    "--header",
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "-F",
    "--form",
    "-u",
    "--user",
    "-o",
    "--output",
    "-w",
    "--write-out",
    "-m",
    "--max-time",
    "--connect-timeout",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-b",
    "--cookie",
    "-T",
    "--upload-file",
}
CURL_WRITES = {
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "-F",
    "--form",
    "-T",
    "--upload-file",
    "-u",
    "--user",
    "-b",
    "--cookie",
}


def _curl(args: list[str], line: str) -> Recognised | None:
    method, follow, verify, url = "GET", False, True, None
    index = 0
    while index < len(args):
        word = args[index]
        if word in CURL_VALUE_OPTIONS:
            value = args[index + 1] if index + 1 < len(args) else ""
            if word in CURL_WRITES:
                return None
            if word in ("-X", "--request"):
                method = value.upper()
            if word in ("-H", "--header") and ("$" in value or "authorization" in value.lower()):
                return None  # the request needs a secret the console doesn't have
            index += 2
            continue
        if word in ("-I", "--head"):
            method = "HEAD"
        elif word in ("-L", "--location"):
            follow = True
        elif word in ("-k", "--insecure"):
            verify = False
        elif word.startswith("-") and not word.startswith("--") and len(word) > 2:
            letters = set(word[1:])
            if letters - set("fsSILkv"):
                return None  # a combined flag this reader doesn't know
            method = "HEAD" if "I" in letters else method
            follow = follow or "L" in letters
            verify = verify and "k" not in letters
        elif word.startswith("http://") or word.startswith("https://"):
            url = url or word
        index += 1
    if url is None or method not in ("GET", "HEAD") or _placeholder(url):
        return None
    if placeholder_host(_url_host(url)):
        return None
    config = _valid(
        "http", {"url": url, "method": method, "follow_redirects": follow, "verify_tls": verify}
    )
    if config is None:
        return None
    return Recognised("http", config, line, f"HTTP {method} {url}")


def _redis(args: list[str], line: str) -> Recognised | None:
    """Bound to the console's own Redis (REDIS_URL) only when the command names it: no
    host at all, `-u $VAR` (then that variable), or localhost. A command naming another host
    (`-h cache.internal`, `-h $REDIS_HOST`) checks a server the console can't reach the same
    way, and is left for a person."""
    positional: list[str] = []
    env = "REDIS_URL"
    index = 0
    while index < len(args):
        word = args[index]
        value = args[index + 1] if index + 1 < len(args) else ""
        if word == "-h":
            if value.lower() not in ("localhost", "127.0.0.1", "::1"):
                return None
            index += 2
            continue
        if word == "-u":
            match = ENV_WORD.match(value)
            if not match:
                return None  # a URL written out: another server, maybe with its password
            env = match.group(1)
            index += 2
            continue
        if word in ("-p", "-a", "-n", "--user", "--pass", "-s"):
            index += 2
            continue
        if not word.startswith("-"):
            positional.append(word)
        index += 1
    if not positional or positional[0].lower() not in READ_ONLY_REDIS:
        return None
    config = _valid("redis", {"url_env": env})
    if config is None:
        return None
    return Recognised("redis", config, line, f"Redis PING and INFO (connection from {env})")


def _psql(args: list[str], line: str) -> Recognised | None:
    sql, env = None, None
    index = 0
    while index < len(args):
        word = args[index]
        value = args[index + 1] if index + 1 < len(args) else ""
        if word in ("-f", "--file"):
            return None  # running a script (a restore, a migration) is not a check
        if word in ("-c", "--command"):
            sql = value
            index += 2
            continue
        if word in ("-d", "--dbname"):
            match = ENV_WORD.match(value)
            env = match.group(1) if match else env
            index += 2
            continue
        if word in ("-h", "--host"):
            # Another server than the one the console's variable points at: not bound.
            if ENV_WORD.match(value) is None and value.lower() not in ("localhost", "127.0.0.1"):
                return None
            index += 2
            continue
        if word in ("-U", "--username", "-p", "--port"):
            index += 2
            continue
        match = ENV_WORD.match(word)
        if match:
            env = match.group(1)
        index += 1
    if sql is None:
        return None
    return _sql(sql, env=env or "DATABASE_URL", command=line)


def _sql(sql: str, *, env: str, command: str) -> Recognised | None:
    """Read-only SQL on pg_stat_activity (or `SELECT 1`): every statement must be a SELECT
    that writes nothing, so a block that also kills backends is never bound."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    statements = [" ".join(s.split()) for s in " ".join(lines).split(";")]
    statements = [s for s in statements if s]
    if not statements:
        return None
    for statement in statements:
        if not statement.lower().startswith("select") or WRITE_SQL.search(statement):
            return None
    lowered = " ".join(statements).lower()
    if statements != ["SELECT 1"] and lowered != "select 1" and "pg_stat_activity" not in lowered:
        return None
    settings: dict[str, Any] = {"dsn_env": env}
    minutes = re.search(r"interval\s+'(\d+)\s*min", lowered)
    if minutes:
        settings["active_query_seconds"] = int(minutes.group(1)) * 60
    config = _valid("postgres", settings)
    if config is None:
        return None
    what = "SELECT 1" if lowered == "select 1" else "connections and long-running queries"
    return Recognised("postgres", config, command, f"PostgreSQL {what} (connection from {env})")


def _stripe(args: list[str], line: str) -> Recognised | None:
    words = [w for w in args if not w.startswith("-")]
    if len(words) < 2 or (words[0], words[1]) not in READ_ONLY_STRIPE:
        return None
    config = _valid("stripe", {"api_key_env": "STRIPE_SECRET_KEY"})
    if config is None:
        return None
    return Recognised(
        "stripe", config, line, "Stripe API, webhooks and payment failures (STRIPE_SECRET_KEY)"
    )
