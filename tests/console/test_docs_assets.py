"""/docs and /redoc load every script, stylesheet and icon from this server."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import Console


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_every_asset_from_this_server(console: Console, page: str) -> None:
    client = console.client()
    html = client.get(page)
    assert html.status_code == 200
    urls = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"', html.text)
    assert urls, html.text
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    assert "cdn." not in html.text and "googleapis" not in html.text and "https://" not in html.text
    # and the browser fetches nothing from elsewhere that a bundle names (ReDoc's footer logo)
    assert "default-src 'self'" in html.headers["content-security-policy"]


def test_the_console_loads_every_asset_from_this_server(console: Console) -> None:
    client, _ = console.signed_in()
    html = client.get("/app/").text
    urls = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"', html)
    assert "/app/static/vendor/htmx.min.js" in [url.split("?")[0] for url in urls]
    for url in urls:
        assert url.startswith("/app/"), url
        assert client.get(url).status_code == 200, url
