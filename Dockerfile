# The console's image: web, worker, beat and the migrate job all run from it (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=console.settings \
    CONSOLE_VAR_DIR=/app/var

WORKDIR /app

# WeasyPrint (review PDFs) draws text with Pango; the fonts are what the print stylesheet names.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
       fonts-noto-color-emoji \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, in their own layer: a code change doesn't reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .

# Hashed, compressed static files are baked into the image; WhiteNoise serves them. The key is
# a throwaway: collectstatic signs nothing, and the real one arrives only at run time.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-real-key python manage.py collectstatic --noinput

# Not root: beat writes its schedule under var/, the only place the app writes on disk.
RUN useradd --system --uid 10001 --home-dir /app --no-create-home console \
    && mkdir -p /app/var \
    && chown -R console /app/var
USER console

EXPOSE 8000
# The control socket would live in $HOME, which is /app and read-only for this user.
CMD ["gunicorn", "console.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--worker-class", "console.gunicorn_worker.ReadyThreadWorker", "--workers", "2", "--threads", "4", \
     "--access-logfile", "-", "--no-control-socket"]
