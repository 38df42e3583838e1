# chatsite: one container runs `manage.py runchat` (one daphne worker per CPU core, port 4810).
# Redis and MongoDB run beside it: see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=chatsite.settings \
    CHAT_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    CHAT_HOST=0.0.0.0 \
    CHAT_PORT=4810

WORKDIR /app

RUN groupadd --system --gid 10001 chat \
    && useradd --system --uid 10001 --gid chat --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin chat

# Requirements first, so a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# The code stays owned by root: the server can read it, not change it.
COPY . .

# The dummy key only lets settings load with DEBUG=0 for this one step; it is not kept in
# the image's environment. Only var/ (SQLite database) is writable by the server.
RUN DEBUG=0 SECRET_KEY=build-only-not-a-secret python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var \
    && chown chat:chat /app/var

# By number: a host or orchestrator checking for a non-root user cannot resolve the name.
USER 10001:10001

EXPOSE 4810

# exec makes runchat PID 1, so `docker stop` (SIGTERM) reaches it and it stops gracefully.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec python manage.py runchat"]
