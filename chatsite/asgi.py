"""ASGI entry point: HTTP through Django, WebSockets through the chat consumer."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from chat.realtime.routing import websocket_urlpatterns  # noqa: E402
from chat.server.asgiapp import ChatApplication  # noqa: E402

# WebSockets: the origin checked, the session cookie's user signed in, then the consumer.
application = ChatApplication(http=django_asgi_app, websocket_routes=websocket_urlpatterns)
