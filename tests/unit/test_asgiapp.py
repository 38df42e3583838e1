"""What a consumer's scope keeps of the handshake, and how WebSocket paths are routed."""

from __future__ import annotations

from chat.realtime.consumers import ChatConsumer
from chat.realtime.routing import websocket_urlpatterns
from chat.server.asgiapp import ChatApplication, consumer_scope

HANDSHAKE = {
    "type": "websocket",
    "asgi": {"version": "3.0"},
    "path": "/ws/rooms/lobby/",
    "raw_path": b"/ws/rooms/lobby/",
    "root_path": "",
    "query_string": b"name=ann",
    "headers": [(b"cookie", b"sessionid=secret"), (b"host", b"chat.example")],
    "client": ["10.0.0.1", 5000],
    "server": ["10.0.0.2", 4810],
    "subprotocols": [],
}


def test_a_consumer_scope_has_no_headers_but_its_route_and_user() -> None:
    user = object()
    scope = consumer_scope(HANDSHAKE, {"room": "lobby"}, user)
    assert "headers" not in scope and "raw_path" not in scope
    assert scope["url_route"] == {"args": (), "kwargs": {"room": "lobby"}}
    assert scope["user"] is user
    assert (scope["query_string"], scope["client"]) == (b"name=ann", ["10.0.0.1", 5000])


def test_room_paths_route_to_the_chat_consumer_with_the_room() -> None:
    app = ChatApplication(http=None, websocket_routes=websocket_urlpatterns)  # type: ignore[arg-type]
    route = app.route("/ws/rooms/Lobby%20x/")
    assert route is not None
    make_consumer, kwargs = route
    assert isinstance(make_consumer(), ChatConsumer)
    assert kwargs == {"room": "Lobby%20x"}
    assert app.route("/ws/rooms/a/b/") is None
    assert app.route("/elsewhere/") is None
