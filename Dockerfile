# One image for every bot: `docker run IMAGE alpha` runs `bot_manager run alpha`.
# Secrets come from the environment at run time (env_file, a Kubernetes Secret), never from the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOT_HOME=/srv/bots

WORKDIR /opt/framework
COPY pyproject.toml constraints.txt README.md bot_manager.py ./
COPY framework/ framework/
RUN pip install --no-cache-dir -c constraints.txt .

# A fixed non-root uid, so volumes can be chowned to it from outside (10001).
RUN useradd --system --uid 10001 --user-group --home-dir /srv/bots --no-create-home bot \
    && mkdir -p /srv/bots/bots /srv/bots/memories /srv/bots/persistence /srv/bots/logs /srv/bots/run \
    && chown -R bot:bot /srv/bots

WORKDIR /srv/bots
# The configs and the committed prompt files; a new volume is seeded from them.
COPY --chown=bot:bot bots/ bots/
COPY --chown=bot:bot memories/ memories/
USER 10001

VOLUME ["/srv/bots/memories", "/srv/bots/persistence", "/srv/bots/logs"]

# slim has no curl: probe /healthz with Python. BOT_HEALTH_PORT unset = the bot serves no health endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; p = os.environ.get('BOT_HEALTH_PORT'); sys.exit(0) if not p else urllib.request.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=4)"]

ENTRYPOINT ["bot_manager", "run"]
