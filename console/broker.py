"""The embedded broker: Kombu's filesystem transport, made safe for several processes.

Kombu 5.7's `filesystem://` `_put` creates the message file under its final name and only then
writes it, and `_get` reads without a lock, so a worker that lists the queue between the two
reads `b""` and dies on the JSONDecodeError (kombu issue #1551). Here every file a reader may
open appears whole or not at all:

- a message is written into a sibling `staging/` folder and `os.rename`d into the queue, so
  its name shows up in the queue only once its bytes are all there;
- a reader claims a message by `os.rename` into its own `claimed/` folder on the same
  filesystem: exactly one of several readers wins, the others get FileNotFoundError and move
  on (Kombu's `shutil.move` to /tmp copies across filesystems, so two readers could both get
  one message);
- exchange tables (fanout bindings: remote control, worker pings) are rewritten the same way,
  under a lock file of their own;
- a message that still can't be decoded (written by something else, a truncated disk) is
  moved to `rejected/` with an error in the log, and the reader goes on to the next one: one
  bad file must not stop the worker that pages people.

Selected by the broker URL `consolefs://` (console/celery.py registers the scheme), so a URL
set later still decides the transport, as with any other broker.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError, OperationalError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

log = logging.getLogger(__name__)
SCHEME = "consolefs"


def register() -> None:
    """Make `consolefs://` name this transport, as `filesystem://` names Kombu's."""
    from kombu.transport import TRANSPORT_ALIASES

    TRANSPORT_ALIASES.setdefault(SCHEME, "console.broker:Transport")


def _replace(path: Path, data: bytes, staging: Path) -> None:
    """Write data to path so that a reader sees either the old file or all of the new one."""
    temporary = staging / f".{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


class Channel(filesystem.Channel):
    """Filesystem channel whose files are only ever seen whole."""

    def _folder(self, option: str, name: str) -> Path:
        # Default: a sibling of the queue folder, so renames stay on one filesystem.
        folder = Path(self.transport_options.get(option) or Path(self.data_folder_in).parent / name)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @cached_property
    def staging_folder(self) -> Path:
        return self._folder("staging_folder", "staging")

    @cached_property
    def claimed_folder(self) -> Path:
        return self._folder("claimed_folder", "claimed")

    @cached_property
    def rejected_folder(self) -> Path:
        return self._folder("rejected_folder", "rejected")

    # -- messages ------------------------------------------------------------------------------
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # Same name scheme as Kombu's (ordering by the millisecond clock, then unique).
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        try:
            _replace(
                Path(self.data_folder_out) / name,
                str_to_bytes(dumps(payload)),
                self.staging_folder,
            )
        except OSError as exc:
            # OperationalError: callers treat it as "broker unavailable" (console.queue's
            # fallback), which is what a full disk or a read-only folder is.
            raise OperationalError(f"cannot add message {name!r} to the queue: {exc}") from exc

    def _get(self, queue: str) -> dict:
        suffix = f"{queue}.msg"
        folder = Path(self.data_folder_in)
        for filename in sorted(os.listdir(folder)):
            if filename.partition(".")[2] != suffix:
                continue
            claimed = self.claimed_folder / filename
            try:
                os.rename(folder / filename, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            except OSError as exc:
                raise ChannelError(f"cannot claim {filename!r} from the queue") from exc
            try:
                payload = claimed.read_bytes()
            except OSError as exc:
                raise ChannelError(f"cannot read claimed message {claimed}") from exc
            message = self._decode(payload)
            if message is None:
                self._reject(claimed, payload)
                continue
            self._done(claimed)
            return message
        raise Empty()

    @staticmethod
    def _decode(payload: bytes) -> dict | None:
        try:
            message = loads(bytes_to_str(payload))
        except (ValueError, UnicodeDecodeError):
            return None
        return message if isinstance(message, dict) else None

    def _reject(self, claimed: Path, payload: bytes) -> None:
        aside = self.rejected_folder / claimed.name
        try:
            os.replace(claimed, aside)
        except OSError:
            aside = claimed
        log.error(
            "broker: message %s could not be decoded (%d bytes); moved aside to %s",
            claimed.name,
            len(payload),
            aside,
        )

    def _done(self, claimed: Path) -> None:
        if self.store_processed:
            processed = Path(self.processed_folder)
            processed.mkdir(parents=True, exist_ok=True)
            os.replace(claimed, processed / claimed.name)
        else:
            with contextlib.suppress(FileNotFoundError):
                claimed.unlink()

    # -- exchange tables -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _table_lock(self, exchange: str) -> Iterator[Path]:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(file.with_name(file.name + ".lock"), "a") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield file
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _read_table(self, file: Path) -> list[filesystem.exchange_queue_t]:
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        try:
            rows = loads(bytes_to_str(raw)) if raw else []
        except ValueError:
            log.error("broker: exchange table %s could not be decoded; starting it afresh", file)
            rows = []
        return [filesystem.exchange_queue_t(*row) for row in rows]

    def get_table(self, exchange: str) -> list[filesystem.exchange_queue_t]:
        # Tables are replaced by rename, so a reader needs no lock.
        return self._read_table(self._exchange_file(exchange))

    def _write_table(self, file: Path, queues: list) -> None:
        try:
            _replace(file, str_to_bytes(dumps(queues)), self.staging_folder)
        except OSError as exc:
            raise ChannelError(f"Cannot write {file}") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange) as file:
            queues = self._read_table(file)
            if row not in queues:
                self._write_table(file, [row, *queues])

    def _delete(
        self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any
    ) -> None:
        # Skip filesystem.Channel._delete (unlocked read-modify-write); the virtual base
        # forgets the binding in memory.
        super(filesystem.Channel, self)._delete(
            queue, exchange, routing_key, pattern, *args, **kwargs
        )
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange) as file:
            queues = self._read_table(file)
            if row in queues:
                self._write_table(file, [q for q in queues if q != row])


class Transport(filesystem.Transport):
    Channel = Channel
    # Kombu's filesystem transport keeps bindings in a class-level state; so does this one.
    global_state = filesystem.virtual.BrokerState()
    driver_name = "console-filesystem"
