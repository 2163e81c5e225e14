"""OpenAI-style error bodies, ``{"error": {"message", "type", "param", "code"}}``, for every failure."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

log = logging.getLogger("adaswitch.server")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout",
}


class ApiError(Exception):
    """An error to answer with ``status`` and an OpenAI-style body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def from_validation(errors: list[Any], skip: int = 0) -> ApiError:
    """A 400 naming the first invalid field (``skip`` drops leading location parts such as "body")."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    location = [str(part) for part in first.get("loc", ())][skip:]
    param = ".".join(location) or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    kind = str(first.get("type", ""))
    code = "missing_required_parameter" if kind == "missing" else (
        "invalid_type" if kind.endswith(("_type", "_parsing")) else "invalid_value"
    )
    return ApiError(400, message, code=code, param=param)


def install_handlers(app: FastAPI) -> None:
    """Answer every error, FastAPI's own included, in the OpenAI shape."""

    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(error.status_code, str(error.detail)), error.status_code, headers=error.headers)

    async def request_validation(request: Request, error: RequestValidationError) -> JSONResponse:
        api = from_validation(list(error.errors()), skip=1)
        return JSONResponse(api.body(), status_code=api.status)

    async def body_validation(request: Request, error: ValidationError) -> JSONResponse:
        api = from_validation(list(error.errors()))
        return JSONResponse(api.body(), status_code=api.status)

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error while serving %s", request.url.path)
        return JSONResponse(error_body(500, f"internal error: {type(error).__name__}", "internal_error"), 500)

    app.add_exception_handler(ApiError, api_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, body_validation)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
