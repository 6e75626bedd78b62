# One image for every role of WhaTrack:
#   web (default CMD)   gunicorn -k gthread --threads 64 -w 2 wsgi:app   on 0.0.0.0:8000
#   worker              dramatiq whatrack.tasks.worker
#   scheduler           flask --app wsgi scheduler   (exactly one per deployment)
#   release step        flask --app wsgi db upgrade
# Configuration comes from the environment (see README.md); no secret is baked in.
# The image expects ONE TLS-terminating proxy in front (TRUSTED_PROXIES=1): its
# X-Forwarded-For / -Proto give the client's address (login throttle) and https (HSTS,
# links). Exposed with no proxy in front, run it with TRUSTED_PROXIES=0. gunicorn itself
# trusts no forwarding header (gunicorn.conf.py, read from /app).

# Front-end vendor assets: npm runs here only when the project has a package.json (see
# scripts/vendor-assets); only the copied files reach the final image. pyproject.toml is copied
# along so the package*.json wildcard never matches nothing.
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY scripts/vendor-assets scripts/vendor-assets
COPY pyproject.toml package*.json ./
RUN mkdir -p whatrack/static/vendor && scripts/vendor-assets

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WHATRACK_ENV=production \
    TRUSTED_PROXIES=1
# No dramatiq_worker_timeout override: an idle consumer waits on its queue's doorbell
# (whatrack/tasks/doorbell.py) and wakes on the next enqueue, so Dramatiq's 1000 ms default
# only bounds how long it blocks before handing over acks.
WORKDIR /app

RUN groupadd --system --gid 10001 whatrack \
    && useradd --system --uid 10001 --gid whatrack --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin whatrack

# Dependencies in their own layer, rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
COPY --from=assets /build/whatrack/static/vendor/ whatrack/static/vendor/
# Editable install: the app runs from /app, where migrations/ sits next to the package.
RUN pip install --no-deps -e . \
    && if ls whatrack/translations/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
           pybabel compile -d whatrack/translations; \
       fi \
    && mkdir -p instance \
    && chown whatrack:whatrack instance

USER whatrack
EXPOSE 8000
# Access and error logs to stdout/stderr; extra flags can come from GUNICORN_CMD_ARGS.
CMD ["gunicorn", "-k", "gthread", "--threads", "64", "-w", "2", "--bind", "0.0.0.0:8000", \
     "--access-logfile", "-", "--error-logfile", "-", "wsgi:app"]
