"""The API's JSON answers, written by the CLI's own encoder so both say the same bytes."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response, StreamingResponse

from rxtrace.api.output import dumps, json_chunks

__all__ = ["JSONAnswer", "JSONStream"]


class JSONAnswer(Response):
    """An API answer written by :func:`dumps`. A route returns one so that FastAPI does not walk
    the document again (its own encoder is a recursive Python pass over every value)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content, indent=False)


class JSONStream(StreamingResponse):
    """An API answer whose :class:`~rxtrace.api.output.Streamed` lists are sent as they are
    made: a case of a hundred thousand boxes is never held whole as values or as bytes. The
    document must need nothing of the request's database session (a resolution is all in
    memory): the body is written after the route returns."""

    def __init__(self, document: Any, status_code: int = 200) -> None:
        super().__init__(
            json_chunks(document, indent=False), status_code=status_code, media_type="application/json"
        )
