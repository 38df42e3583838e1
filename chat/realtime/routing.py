"""WebSocket URL routes."""

from __future__ import annotations

from django.urls import re_path

from chat.realtime.consumers import ChatConsumer

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<room>[^/]+)/$", ChatConsumer.as_asgi()),
]
