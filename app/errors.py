"""AppError and its one handler: JSON under /api (and webhooks), HTML elsewhere."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.templating import templates


class AppError(Exception):
    """An error whose message is safe to show to the user."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api") or path.startswith("/webhooks")


def error_response(request: Request, message: str, status_code: int) -> Response:
    """Render an error as JSON `{"detail": …}` or an escaped HTML page."""
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    html = templates.get_template("error.html").render(
        request=request, message=message, status_code=status_code
    )
    return HTMLResponse(html, status_code=status_code)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return error_response(request, exc.message, exc.status_code)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(request, str(exc.detail), exc.status_code)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _wants_json(request):
            return JSONResponse({"detail": _validation_message(exc), "errors": exc.errors()},
                                status_code=422)
        return error_response(request, _validation_message(exc), 422)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
