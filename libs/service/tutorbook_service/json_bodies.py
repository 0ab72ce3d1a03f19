"""Request bodies that cannot be JSON are the client's fault: a 400 that says why, never a 500. Litestar
hands the body to msgspec and lets two of its errors through unconverted: bytes that are not UTF-8
(``UnicodeDecodeError``) and nesting deeper than the decoder's recursion limit (``RecursionError``)."""

from typing import Any

from litestar import Request

from tutorbook_service.errors import BadRequestError


class JsonBodyRequest(Request[Any, Any, Any]):
    """The request class of every service (``Litestar(request_class=JsonBodyRequest)``)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except UnicodeDecodeError:
            raise BadRequestError("the body is not valid UTF-8") from None
        except RecursionError:
            raise BadRequestError("the body's JSON is nested too deeply") from None
