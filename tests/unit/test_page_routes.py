"""The page at ``/``: served without a key, under a strict Content-Security-Policy, nothing but its own files;
and the small API it relies on (the key's role)."""

import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import ADMIN, USER
from tutorbook_gateway.routes.page import PAGE_DIR


def test_the_page_loads_without_a_key_under_a_strict_policy(client: TestClient[Litestar]) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/ui/js/main.js">' in response.text


def test_every_file_the_page_names_is_served_and_nothing_else(client: TestClient[Litestar]) -> None:
    for file in [*sorted(PAGE_DIR.rglob("*.js")), PAGE_DIR / "style.css"]:
        served = client.get(f"/ui/{file.relative_to(PAGE_DIR).as_posix()}")
        assert served.status_code == 200 and served.content == file.read_bytes()
        assert "content-security-policy" in served.headers
    assert client.get("/ui/js/main.js").headers["content-type"].startswith("text/javascript")
    for path in ("/ui/missing.js", "/ui/../settings.py", "/ui/%2e%2e/app.py", "/ui/"):
        assert client.get(path).status_code == 404


def test_the_page_never_writes_html_from_data() -> None:
    """Text from documents and answers goes in as text: no innerHTML, outerHTML, insertAdjacentHTML or
    document.write anywhere in the page's code (the browser test checks a real script tag stays text)."""
    for file in PAGE_DIR.rglob("*.js"):
        code = file.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in code, f"{file.name} uses {sink}"


def test_the_page_keeps_the_key_out_of_urls_and_lasting_storage() -> None:
    code = "\n".join(file.read_text() for file in PAGE_DIR.rglob("*.js"))
    assert "localStorage" not in code and "document.cookie" not in code
    assert "sessionStorage" in code and "Authorization" in code


@pytest.mark.parametrize(("headers", "role"), [(USER, "user"), (ADMIN, "admin")])
def test_a_key_learns_its_role(client: TestClient[Litestar], headers: dict[str, str], role: str) -> None:
    body = client.get("/v1/me", headers=headers).json()
    assert body["role"] == role and len(body["fingerprint"]) == 16
    assert client.get("/v1/me").status_code == 401


def test_the_advisor_lists_comparisons_and_serves_their_plots(client: TestClient[Litestar], tmp_path: Path) -> None:
    folder = tmp_path / "comparisons" / "support-triage"
    folder.mkdir(parents=True)
    (folder / "comparison.json").write_text("{}")
    (folder / "quality-tokens.png").write_bytes(b"\x89PNG fake")
    (folder / "notes.txt").write_text("not a plot")
    listed = client.get("/v1/advisor/comparisons", headers=USER).json()["data"]
    assert listed == [
        {
            "dataset": "support-triage",
            "plots": [{"file": "quality-tokens.png", "title": "quality against prompt tokens"}],
        }
    ]
    plot = client.get("/v1/advisor/comparisons/support-triage/quality-tokens.png", headers=USER)
    assert plot.status_code == 200 and plot.content == b"\x89PNG fake" and plot.headers["content-type"] == "image/png"
    assert client.get("/v1/advisor/comparisons/support-triage/notes.txt", headers=USER).status_code == 404
    assert client.get("/v1/advisor/comparisons/support-triage/reliability.png", headers=USER).status_code == 404
    assert client.get("/v1/advisor/comparisons/Bad_Name/quality-tokens.png", headers=USER).status_code == 400
    assert client.get("/v1/advisor/comparisons", headers={}).status_code == 401


def relative_luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# Text colour on background, as style.css uses them (variables by name, or literal colours).
TEXT_ON_BACKGROUND = [
    ("--ink", "--paper"), ("--ink", "--panel"), ("--muted", "--paper"), ("--muted", "--panel"),
    ("--accent", "--paper"), ("--accent", "--panel"), ("#ffffff", "--accent"), ("--ok", "--paper"),
    ("--ok", "--panel"), ("--warn", "--paper"), ("#ffffff", "--warn"), ("--bad", "--paper"), ("#ffffff", "--bad"),
    ("--ink", "--mark"), ("--ink", "--unsupported"), ("#ffffff", "#5b2a86"), ("#ffffff", "--muted"),
]  # fmt: skip


def test_every_text_colour_keeps_aa_contrast() -> None:
    """WCAG AA: at least 4.5:1 for body text, for every pair of colours the page puts text on."""
    css = (PAGE_DIR / "style.css").read_text()
    colours = dict(re.findall(r"(--[a-z]+):\s*(#[0-9a-f]{6});", css))

    def value(name: str) -> str:
        return colours[name] if name.startswith("--") else name

    low = {pair: round(contrast(value(pair[0]), value(pair[1])), 2) for pair in TEXT_ON_BACKGROUND}
    assert all(ratio >= 4.5 for ratio in low.values()), low
