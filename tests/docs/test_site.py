"""The documentation site builds with --strict, and every internal link and image on it resolves.

``make test`` builds the site first (``make docs``) and points
``CHAINRULE_DOCS_SITE`` at it, so the pages are checked without a second build;
run alone, this module builds the site into a temporary folder once. The
checks read every built HTML page: each ``href`` and ``src`` that points inside
the site must name a file that exists, and an ``#anchor`` must name an ``id``
on the page it points at. Skipped when mkdocs and its plugins are not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("mkdocs", "material", "mkdocstrings_handlers.python", "markdown_exec")

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(name.split(".")[0]) is None for name in NEEDED),
    reason="the docs extra (mkdocs, mkdocs-material, mkdocstrings-python, markdown-exec) is not installed",
)


def _mkdocs(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # as `make docs`: the pages' tiny examples run fastest on one BLAS thread
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("CHAINRULE_DOCS_SITE")
    if given:
        path = Path(given)
        path = path if path.is_absolute() else ROOT / path
        assert (path / "index.html").is_file(), f"CHAINRULE_DOCS_SITE={given} holds no built site"
        return path
    out = tmp_path_factory.mktemp("site")
    result = _mkdocs("build", "--strict", "--site-dir", str(out), cwd=ROOT)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


class _Page(HTMLParser):
    """The ids a page defines and the (tag, attribute, url) of each link and image on it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and tag != "meta":
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append((tag, name, value))


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        cache[path] = page
    return cache[path]


def _target(site: Path, page: Path, url: str) -> tuple[Path | None, str]:
    """The file a local url points at (None for an external one) and its fragment."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:", "data:")):
        return None, ""
    fragment = unquote(parts.fragment)
    if not parts.path:
        return page, fragment
    base = site if parts.path.startswith("/") else page.parent
    target = (base / unquote(parts.path).lstrip("/")).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, fragment


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


def test_the_site_has_the_guide_and_the_api_reference(site):
    pages = {p.relative_to(site).as_posix() for p in _pages(site)}
    for expected in ("index.html", "guide/one-neuron/index.html", "guide/backpropagation/index.html",
                     "api/nn/index.html", "ops-table/index.html"):
        assert expected in pages, f"{expected} is missing from the built site"
    nn_page = (site / "api/nn/index.html").read_text(encoding="utf-8")
    assert 'id="chainrule.nn.linear.Linear"' in nn_page, "the API reference did not render nn.Linear"


def test_every_internal_link_and_image_resolves(site):
    cache: dict[Path, _Page] = {}
    broken = []
    for page_path in _pages(site):
        page = _parse(page_path, cache)
        where = page_path.relative_to(site).as_posix()
        for tag, attr, url in page.links:
            target, fragment = _target(site, page_path.resolve(), url)
            if target is None:
                continue
            if not target.is_file():
                broken.append(f"{where}: <{tag} {attr}={url!r}> points at a missing file")
            elif fragment and target.suffix == ".html" and fragment not in _parse(target, cache).ids:
                broken.append(f"{where}: <{tag} {attr}={url!r}> names an anchor that is not on the page")
    assert not broken, "broken links on the site:\n" + "\n".join(broken)


def test_a_code_block_that_raises_fails_the_strict_build(tmp_path):
    """The guarantee the guide rests on: a page whose code fails does not build."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(textwrap.dedent("""\
        # A page whose code fails

        ```python exec="on"
        raise ValueError("this block fails")
        ```
        """))
    (tmp_path / "mkdocs.yml").write_text(textwrap.dedent("""\
        site_name: t
        strict: true
        plugins:
          - markdown-exec
        markdown_extensions:
          - pymdownx.superfences
        """))
    result = _mkdocs("build", "--strict", "--site-dir", str(tmp_path / "site"), cwd=tmp_path)
    assert result.returncode != 0, "a code block raised and mkdocs build --strict still succeeded"
    assert "this block fails" in result.stdout + result.stderr
