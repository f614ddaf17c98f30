"""The HTTP face of the provider (FastAPI): exactly the routes Plex calls, plus /health and signed images.

Everything answers JSON. Malformed input (bad JSON, wrong types, bodies over 64 KiB, ratingKeys that
are not ``scene-<id>``) gets a 4xx with one line in ``error``, never a traceback; an unexpected error
is one log line and a 500, and the service keeps serving. The Stash API key is in no answer: documents
are built field by field from the scene, and images are served through signed links only.
"""

import json
import logging
import traceback
from typing import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from plexsync.identity import scene_from_rating_key
from plexsync.provider import documents
from plexsync.provider.matching import MatchRequest
from plexsync.provider.service import Provider, Unavailable

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def _error(status: int, message: str, headers: dict = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors(include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


async def _body(request: Request) -> bytes:
    """The request body, refused past MAX_BODY whether or not Content-Length says so."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"body larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, f"body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_match(raw: bytes) -> MatchRequest:
    try:
        payload = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "body must be a JSON object")
    try:
        return MatchRequest.model_validate(payload)
    except ValidationError as exc:
        raise HTTPException(400, _validation_message(exc)) from None


def _scene_id(rating_key: str) -> int:
    scene_id = scene_from_rating_key(rating_key)
    if scene_id is None:
        raise HTTPException(400, "ratingKey must look like scene-<Stash scene id>")
    return scene_id


async def _guarded(work: Callable, *args):
    """Run provider work off the event loop; Stash trouble is a 503, a bug one line and a 500."""
    try:
        return await run_in_threadpool(work, *args)
    except Unavailable as exc:
        raise HTTPException(503, str(exc)) from None
    except HTTPException:
        raise
    except Exception as exc:  # the request boundary: one clear line, the trace only at debug
        log.debug("unexpected error: %s", "".join(traceback.format_exception(exc)))
        log.error("unexpected error (a bug in PlexSync; please report it): %s: %s", type(exc).__name__, exc)
        raise HTTPException(500, f"internal error: {type(exc).__name__}") from None


async def _guarded_async(work: Awaitable):
    """``_guarded`` for work that awaits on the event loop instead of running on a thread."""
    try:
        return await work
    except Unavailable as exc:
        raise HTTPException(503, str(exc)) from None
    except Exception as exc:  # the request boundary, as in _guarded
        log.debug("unexpected error: %s", "".join(traceback.format_exception(exc)))
        log.error("unexpected error (a bug in PlexSync; please report it): %s: %s", type(exc).__name__, exc)
        raise HTTPException(500, f"internal error: {type(exc).__name__}") from None


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status_code == 503 else None
        return _error(exc.status_code, str(exc.detail), headers)

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(400, f"{where}: {first.get('msg', 'invalid')}")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def create_app(provider: Provider) -> FastAPI:
    """The ASGI app for one Provider."""
    app = FastAPI(title="PlexSync metadata provider", docs_url=None, redoc_url=None, openapi_url=None)
    _install_error_handlers(app)
    _service_routes(app, provider)
    _metadata_routes(app, provider)
    return app


# Routes answer JSONResponse themselves: the documents are plain JSON already, and FastAPI's
# jsonable_encoder pass over them would cost more than the lookup behind a match.

def _service_routes(app: FastAPI, provider: Provider) -> None:
    """The provider document, health, match and the signed images."""
    @app.get("/")
    async def root() -> JSONResponse:
        return JSONResponse(documents.media_provider())

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse(await _guarded(provider.health))

    @app.post(documents.MATCH_KEY)
    async def match(request: Request) -> JSONResponse:
        wanted = _parse_match(await _body(request))
        found = provider.quick_match(wanted)  # no I/O needed: answered on the event loop
        if found is None:
            found = await _guarded(provider.match, wanted)
        return JSONResponse(documents.container(found))

    @app.get("/images/{kind}/{object_id}")
    async def image(kind: str, object_id: int, v: str = "", sig: str = "") -> Response:
        found = await _guarded(provider.image, kind, object_id, v, sig)
        if found is None:
            raise HTTPException(404, "no such image")
        return Response(found[0], media_type=found[1], headers={"Cache-Control": "public, max-age=604800, immutable"})


def _metadata_routes(app: FastAPI, provider: Provider) -> None:
    """A scene's metadata, extras and images, by ratingKey."""
    @app.get(documents.METADATA_KEY + "/{rating_key}")
    async def metadata(rating_key: str) -> JSONResponse:
        scene_id = _scene_id(rating_key)
        if provider.configured:
            found = await _guarded_async(provider.metadata_async(scene_id))
        else:
            found = await _guarded(provider.metadata, scene_id)
        if found is None:
            raise HTTPException(404, f"Stash has no scene {rating_key}")
        return JSONResponse(documents.container([found]))

    @app.get(documents.METADATA_KEY + "/{rating_key}/extras")
    async def extras(rating_key: str) -> JSONResponse:
        _scene_id(rating_key)
        return JSONResponse(documents.container([]))

    @app.get(documents.METADATA_KEY + "/{rating_key}/images")
    async def images(rating_key: str) -> JSONResponse:
        found = await _guarded(provider.images, _scene_id(rating_key))
        if found is None:
            raise HTTPException(404, f"Stash has no scene {rating_key}")
        return JSONResponse(documents.container(found, key="Image"))
