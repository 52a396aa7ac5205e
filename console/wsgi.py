from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django_application = get_wsgi_application()


def application(environ: dict, start_response):
    """Django, plus one thing WSGI can't say: "close this connection after the response" (a
    view sets environ["console.close_connection"], e.g. after a 413 whose body it left
    unread). A server drops an application's Connection header; gunicorn's response object
    (start_response's owner) is told instead, so it answers `Connection: close` and closes."""

    def respond(status, headers, exc_info=None):
        if environ.get("console.close_connection"):
            server_response = getattr(start_response, "__self__", None)
            force_close = getattr(server_response, "force_close", None)
            if callable(force_close):
                force_close()
        return start_response(status, headers, exc_info)

    return django_application(environ, respond)
