"""GET /console: the agents' review console (and the analysts' statistics), a static page that calls
the API with the key typed in.

The page and its script and style sheet hold no data, so they are served without a key (their
paths are in `api.middleware.OPEN_PATHS`); every ticket the page shows comes from the `/v1` API,
called from the browser with the key the agent types in. The files live in `api/static/`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CONSOLE_FILES = {
    "/console": ("console.html", "text/html; charset=utf-8"),
    "/console/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console/console-stats.js": ("console-stats.js", "text/javascript; charset=utf-8"),
    "/console/console.css": ("console.css", "text/css; charset=utf-8"),
}
"""Each served path, the file behind it and its media type."""

CONSOLE_SLASH = "/console/"
"""Redirected to the console page (whose files are named relative to /console)."""

SECURITY_HEADERS = {
    # The page keeps an API key in sessionStorage: no script but its own, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["console"], include_in_schema=False)


def _serve(path: str) -> FileResponse:
    """The static file behind `path` with its media type and the security headers."""
    name, media_type = CONSOLE_FILES[path]
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/console")
def console_page() -> FileResponse:
    """The console page (log in with an agent key: review queue, ticket, accept or correct; with an
    analyst key: statistics, and the tickets and notifications read-only)."""
    return _serve("/console")


@router.get("/console/console.js")
def console_script() -> FileResponse:
    """The console's script."""
    return _serve("/console/console.js")


@router.get("/console/console-stats.js")
def console_stats_script() -> FileResponse:
    """The script of the analysts' 统计 tab."""
    return _serve("/console/console-stats.js")


@router.get("/console/console.css")
def console_style() -> FileResponse:
    """The console's style sheet."""
    return _serve("/console/console.css")


@router.get(CONSOLE_SLASH)
def console_slash(request: Request) -> RedirectResponse:
    """/console/ (a bookmark, a link typed with a slash) leads to /console: served there, the page's
    files, named relative to it, would be looked for under /console/console/. The target is
    relative too, so that a proxy serving the app under a path prefix keeps it."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"../console{query}", status_code=308, headers=SECURITY_HEADERS)


@router.get("/")
def root() -> RedirectResponse:
    """The root URL, opened in a browser, leads to the console (relative, as /console/ does)."""
    return RedirectResponse("console", status_code=307)
