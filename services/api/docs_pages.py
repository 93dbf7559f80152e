"""The interactive API documentation, /docs (Swagger UI) and /redoc (ReDoc), served with their
scripts and styles from this package (services/api/static/vendor, see its README): the pages load
nothing from another host, so they work offline and behind a closed network."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/static/api"
"""Where the documentation's assets are served."""
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'"
)
"""The pages' Content-Security-Policy: this server only (their inline start-up script and the
bundles' inline styles aside), so that nothing the bundles name elsewhere (ReDoc's footer logo)
is fetched."""


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc (created with `docs_url=None, redoc_url=None`) over local assets."""
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    vendor = f"{STATIC_PATH}/vendor"
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="api-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _local_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
                swagger_css_url=f"{vendor}/swagger-ui.css",
                swagger_favicon_url=f"{STATIC_PATH}/favicon.svg",
                # no call to the public validator service: the page talks to this server only
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _local_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{vendor}/redoc.standalone.js",
                redoc_favicon_url=f"{STATIC_PATH}/favicon.svg",
                with_google_fonts=False,
            )
        )
