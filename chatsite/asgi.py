"""ASGI entry point: HTTP through Django, WebSockets and event streams through the chat consumer."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from chat.realtime.routing import stream_urlpatterns, websocket_urlpatterns  # noqa: E402
from chat.server.asgiapp import ChatApplication  # noqa: E402

# WebSockets and streams: the origin checked, the caller's user signed in, then the consumer.
application = ChatApplication(
    http=django_asgi_app, websocket_routes=websocket_urlpatterns, stream_routes=stream_urlpatterns
)
