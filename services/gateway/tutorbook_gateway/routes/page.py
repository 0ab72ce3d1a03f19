"""The page for people: ``/`` and its assets under ``/ui/``, served by the gateway itself.

The page needs no key to load (it asks for one, and keeps it in the browser's session storage); every call
it makes goes to the API with that key. Nothing comes from the internet, and a strict Content-Security-Policy
allows only the gateway's own scripts, styles and API: no inline script, no eval, no other origin.
"""

from dataclasses import dataclass
from pathlib import Path

from litestar import Response, Router, get

from tutorbook_service.errors import NotFoundError

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
ASSETS_PATH = "/ui"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' blob:",  # the advisor's plots are fetched with the key, then shown from a blob
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "require-trusted-types-for 'script'",  # no string can reach an HTML or script sink at all
        "trusted-types 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


def read_assets(folder: Path) -> dict[str, Asset]:
    """Every file of the page, by its path under ``folder`` (read once, when the app is built)."""
    assets = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in MEDIA_TYPES:
            assets[path.relative_to(folder).as_posix()] = Asset(path.read_bytes(), MEDIA_TYPES[path.suffix])
    return assets


def page_response(asset: Asset) -> Response[bytes]:
    return Response(asset.body, media_type=asset.media_type, headers=PAGE_HEADERS)


def page_router(folder: Path = PAGE_DIR) -> Router:
    assets = read_assets(folder)

    @get("/", include_in_schema=False, sync_to_thread=False)
    def index() -> Response[bytes]:
        return page_response(assets["index.html"])

    @get(f"{ASSETS_PATH}/{{name:path}}", include_in_schema=False, sync_to_thread=False)
    def asset(name: str) -> Response[bytes]:
        found = assets.get(name.lstrip("/"))
        if found is None:
            raise NotFoundError(f"the page has no file {name!r}")
        return page_response(found)

    return Router(path="/", route_handlers=[index, asset])
