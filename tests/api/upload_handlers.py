"""Django's own temporary-file upload handler, counting what it writes to disk."""

from __future__ import annotations

from django.core.files.uploadhandler import TemporaryFileUploadHandler


class MeasuredTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    written: list[int] = []

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        MeasuredTemporaryFileUploadHandler.written.append(len(raw_data))
        return super().receive_data_chunk(raw_data, start)
