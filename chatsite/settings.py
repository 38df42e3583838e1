"""Django settings: everything configurable is read from the environment here, once."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chat.infra import redisurl
from chatsite.env import env_bool, env_int, env_list, env_str
from chatsite.secretkey import load_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CHAT_VAR_DIR", str(BASE_DIR / "var")))

DEV_SECRET_KEY = "dev-insecure-chatsite-key-change-me"
DEBUG = env_bool("DEBUG", True)
# SECRET_KEY wins; else SECRET_KEY_FILE names a file holding the key, generated there on first
# start (`make run` points it at var/secret_key, so its sessions survive restarts).
SECRET_KEY_FILE = env_str("SECRET_KEY_FILE", "")
SECRET_KEY = env_str("SECRET_KEY", "") or (
    load_or_create_secret_key(Path(SECRET_KEY_FILE)) if SECRET_KEY_FILE else DEV_SECRET_KEY
)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0 (or SECRET_KEY_FILE)")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before channels: the earlier app's command wins, and chat's runworker runs jobs
    # (channels' own runworker serves channel-layer consumers, which this project has none of).
    "chat",
    "channels",
    "ninja",
]

MIDDLEWARE = [
    "chatsite.logcontext.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "chat.web.security.SecurityHeadersMiddleware",
    "chat.server.staticfiles.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "chat.web.tokenauth.ApiTokenMiddleware",
    "chat.web.crosssite.CrossSiteApiMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's own tables (users, sessions, admin log) stay relational; chat data lives in MongoDB.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))

# One server (redis://), a Redis Cluster (redis+cluster://h:p,h:p/) or a Sentinel set
# (redis+sentinel://h:p,h:p/<service>): chat/infra/redisurl.py.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6390/0")
REDIS_TARGET = redisurl.parse(REDIS_URL)
MONGO_URL = env_str("MONGO_URL", "mongodb://127.0.0.1:27117/")
MONGO_DB = env_str("MONGO_DB", "chatsite")

# Pub/sub: one Redis message per process per broadcast, not one per recipient.
# channels_redis's pub/sub layer with in-process consumer channels; sharded pub/sub
# (SPUBLISH/SSUBSCRIBE) on a cluster.
CHANNEL_LAYERS = {"default": redisurl.channel_layer(REDIS_TARGET)}

CHAT_HOST = env_str("CHAT_HOST", "127.0.0.1")
CHAT_PORT = env_int("CHAT_PORT", 4810)
CHAT_WORKERS = env_int("CHAT_WORKERS", 0)  # 0 = one per CPU core
CHAT_HISTORY_PAGE = 50
CHAT_HISTORY_MAX_PAGE = 200
# Each room's newest messages kept in Redis for joins and short resumes
# (chat/messages/historytail.py): how many entries (0: none, every join reads MongoDB; the
# steady fault suite's rolling restart needs the depth), and how long an idle room's tail stays.
CHAT_HISTORY_TAIL = env_int("CHAT_HISTORY_TAIL", 1000)
CHAT_HISTORY_TAIL_TTL_S = env_int("CHAT_HISTORY_TAIL_TTL_S", 86_400)
CHAT_MAX_TEXT = 4000
CHAT_MAX_FRAME_BYTES = 64 * 1024
CHAT_STORE_TIMEOUT_S = env_int("CHAT_STORE_TIMEOUT_MS", 5000) / 1000
# Messages (and schedules) one connection may send: a token bucket; 0 switches it off.
CHAT_RATE_PER_S = env_int("CHAT_RATE_PER_S", 10)
CHAT_RATE_BURST = env_int("CHAT_RATE_BURST", 20)
# All senders of one client address together (chat.limits.senders); 0 switches it off.
# Unset (-1): ten times the per-sender rate and burst, so off where that limit is off.
CHAT_ADDRESS_RATE_PER_S = env_int("CHAT_ADDRESS_RATE_PER_S", -1)
CHAT_ADDRESS_RATE_BURST = env_int("CHAT_ADDRESS_RATE_BURST", -1)
# Reads a client asks for (chat/limits/readlimits.py): history pages (generous: gap fills and
# scrolling) and searches per connection; per address, this many times that.
CHAT_HISTORY_RATE_PER_S = env_int("CHAT_HISTORY_RATE_PER_S", 20)
CHAT_HISTORY_BURST = env_int("CHAT_HISTORY_BURST", 100)
CHAT_SEARCH_RATE_PER_S = env_int("CHAT_SEARCH_RATE_PER_S", 1)
CHAT_SEARCH_BURST = env_int("CHAT_SEARCH_BURST", 5)
CHAT_READ_ADDRESS_FACTOR = env_int("CHAT_READ_ADDRESS_FACTOR", 3)
# Connections: per daphne worker (beyond it new sockets are refused with 4503), open at once
# per client address and new ones per second per address (both counted in Redis, across
# workers); 0 switches a limit off.
CHAT_MAX_CONNECTIONS_PER_WORKER = env_int("CHAT_MAX_CONNECTIONS_PER_WORKER", 10_000)
CHAT_MAX_CONNECTIONS_PER_IP = env_int("CHAT_MAX_CONNECTIONS_PER_IP", 100)
CHAT_NEW_CONNECTIONS_PER_S_PER_IP = env_int("CHAT_NEW_CONNECTIONS_PER_S_PER_IP", 20)
# Server-Sent Events: a comment line this often keeps proxies from closing a quiet stream.
CHAT_SSE_HEARTBEAT_S = env_int("CHAT_SSE_HEARTBEAT_S", 15)
# The longest a long-poll is held (a client asks for at most 30 s): below a proxy's timeout.
CHAT_POLL_MAX_WAIT_S = env_int("CHAT_POLL_MAX_WAIT_S", 30)
# A client whose unsent backlog passes this is disconnected (it stopped reading).
CHAT_MAX_OUTGOING_BYTES = env_int("CHAT_MAX_OUTGOING_BYTES", 4 * 1024 * 1024)
# Per-socket kernel send buffer: bounds what the kernel holds per client, too.
CHAT_SOCKET_SEND_BUFFER = env_int("CHAT_SOCKET_SEND_BUFFER", 256 * 1024)
# Scheduled messages (docs/scheduling.md): every runchat worker runs a scheduler loop unless
# this is off (then run `manage.py runscheduler`); a claim not finished within the lease is
# claimed again; an idle loop looks at least this often even if no wake-up comes.
CHAT_SCHEDULER_IN_WORKERS = env_bool("CHAT_SCHEDULER_IN_WORKERS", True)
CHAT_SCHEDULER_LEASE_MS = env_int("CHAT_SCHEDULER_LEASE_MS", 30_000)
CHAT_SCHEDULER_MAX_SLEEP_S = env_int("CHAT_SCHEDULER_MAX_SLEEP_MS", 5000) / 1000
# Background jobs (docs/jobs.md): a Redis stream with a consumer group; an entry not acked
# within the visibility timeout is reclaimed by another worker; failures retry with
# exponential backoff (base doubling up to the cap) until the last attempt, then dead-letter.
CHAT_JOB_QUEUE = env_str("CHAT_JOB_QUEUE", "chat:jobs")  # Redis key prefix of the queue
CHAT_JOB_VISIBILITY_MS = env_int("CHAT_JOB_VISIBILITY_MS", 30_000)
CHAT_JOB_MAX_ATTEMPTS = env_int("CHAT_JOB_MAX_ATTEMPTS", 10)
CHAT_JOB_BACKOFF_MS = env_int("CHAT_JOB_BACKOFF_MS", 1000)
CHAT_JOB_BACKOFF_MAX_MS = env_int("CHAT_JOB_BACKOFF_MAX_MS", 300_000)
CHAT_JOB_CONCURRENCY = env_int("CHAT_JOB_CONCURRENCY", 2)  # jobs one runworker runs at once
CHAT_JOB_POLL_MS = env_int("CHAT_JOB_POLL_MS", 1000)
# On SIGTERM a worker finishes the job in hand within this, else releases it to the queue.
CHAT_JOB_STOP_GRACE_MS = env_int("CHAT_JOB_STOP_GRACE_MS", 8000)
CHAT_JOB_WORKER_IN_RUNCHAT = env_bool("CHAT_JOB_WORKER_IN_RUNCHAT", True)
CHAT_JOB_EXPORT_BATCH = env_int("CHAT_JOB_EXPORT_BATCH", 500)
# A finished job's `job` event is sent again to its owner's sockets after this backoff
# (doubling, at most CHAT_JOB_NOTIFY_ATTEMPTS sends in all) until a client says job.seen.
CHAT_JOB_NOTIFY_BACKOFF_MS = env_int("CHAT_JOB_NOTIFY_BACKOFF_MS", 2000)
CHAT_JOB_NOTIFY_ATTEMPTS = env_int("CHAT_JOB_NOTIFY_ATTEMPTS", 10)
# Queues for integrators (docs/queues.md). Each runchat worker feeds the queues bound to a
# room: at once when it stored a message there, and every poll interval for those others
# stored; a seq taken but never stored stops the feed until it is this old.
CHAT_QUEUE_ROOM_POLL_MS = env_int("CHAT_QUEUE_ROOM_POLL_MS", 500)
CHAT_QUEUE_ROOM_GAP_S = env_int("CHAT_QUEUE_ROOM_GAP_MS", 30_000) / 1000
# Where runchat's workers share their Prometheus samples (its metric files are emptied at
# start); empty: a private temporary directory per runchat, removed when it stops.
CHAT_METRICS_DIR = env_str("CHAT_METRICS_DIR", "")
# Presence (chat/presence/store.py): a connection counts as present this long after its worker
# last refreshed it (every third of this), so a dead worker's members vanish within it.
CHAT_PRESENCE_TTL_MS = env_int("CHAT_PRESENCE_TTL_MS", 30_000)
if CHAT_PRESENCE_TTL_MS < 300:
    raise ValueError("CHAT_PRESENCE_TTL_MS must be at least 300")
# A joining client's `presence` lists at most this many names (and says how many there are).
CHAT_PRESENCE_LIST_MAX = env_int("CHAT_PRESENCE_LIST_MAX", 200)

# Served over HTTPS (a TLS proxy in front): cookies are marked Secure. On by default with
# DEBUG off, as a production deployment expects; `make run` (plain HTTP) turns it off.
CHAT_HTTPS = env_bool("CHAT_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = CHAT_HTTPS
CSRF_COOKIE_SECURE = CHAT_HTTPS
# No script reads either cookie (forms carry the CSRF token; the page's own fetches are
# same-origin), and neither goes with another site's requests but top-level navigations.
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(log_id)s] %(message)s"},
        "json": {"()": "chatsite.logformat.JsonFormatter"},
    },
    "filters": {"ids": {"()": "chatsite.logcontext.ContextFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["ids"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}

# Static files are served by WhiteNoise inside daphne; in development straight from static/.
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "chatsite.storage.ModuleManifestStaticFilesStorage"
    },
}

# ---- Log-in throttling (chat/identity/loginthrottle.py) ------------------------------------------
# Failed log-ins counted per username+address and per address in the `logins` cache (Redis,
# shared by every worker) over a window that starts at the first failure; at the limit,
# further attempts are refused without checking the password. 0 switches a limit off.
CHAT_LOGIN_FAILURES_PER_NAME = env_int("CHAT_LOGIN_FAILURES_PER_NAME", 5)
CHAT_LOGIN_FAILURES_PER_ADDRESS = env_int("CHAT_LOGIN_FAILURES_PER_ADDRESS", 20)
CHAT_LOGIN_WINDOW_S = env_int("CHAT_LOGIN_WINDOW_S", 300)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "logins": {
        "BACKEND": "chat.infra.rediscache.ChatRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "chat:login",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    },
}
# The throttle first (it only refuses, raising PermissionDenied), then Django's own.
AUTHENTICATION_BACKENDS = [
    "chat.identity.loginthrottle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
