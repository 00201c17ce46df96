"""An ASGI middleware that refuses request bodies larger than a limit (HTTP 413).

A declared ``Content-Length`` over the limit is refused before the body is read; a body without
one (chunked) is counted as it streams and refused as soon as it passes the limit, so an
oversized upload never reaches the disk in full.
"""
from __future__ import annotations

import json
from typing import Any


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, int(max_bytes)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body larger than the limit of {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(send)
                    return
        seen = 0
        state = {"exceeded": False, "started": False, "replaced": False}

        async def counting_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    state["exceeded"] = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Any) -> None:
            # a framework may turn our exception into its own error response (FastAPI answers 400
            # when form parsing fails): whatever it says, an oversized body gets 413
            if state["replaced"]:
                return
            if message["type"] == "http.response.start":
                if state["exceeded"]:
                    state["replaced"] = True
                    await self._refuse(send)
                    return
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not state["started"] and not state["replaced"]:
                await self._refuse(send)
