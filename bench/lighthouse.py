"""`python -m bench.lighthouse` (`make lighthouse`): Lighthouse's four category scores for each
page of the web console, written into docs/console.md.

It makes a fresh SQLite store in a temporary folder, issues a rep's and a manager's token
(`crm token issue`), starts `crm serve --demo` (which seeds the demo data, as `make run` does)
on a free loopback port, signs each of them in through the console's sign-in form, and runs
npm `lighthouse` (tools/package.json) with Debian's chromium, headless, on its default mobile
preset with simulated throttling, `--runs` times over every page of `PAGES` that answers 200,
passing the session cookie with `--extra-headers`; the run with the median performance score
counts (one run varies with what else the machine's CPU is doing). A page that answers 404
(not built yet) is skipped and said so. The JSON reports go to build/lighthouse/ (ignored by
git); the table of scores goes between the markers of docs/console.md. Exit 1 when a page
misses a target of `TARGETS`."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.console.sessions import SESSION_COOKIE, SIGN_IN_COOKIE

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "tools" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
DOCS = ROOT / "docs" / "console.md"
REPORTS = ROOT / "build" / "lighthouse"
START, END = "<!-- lighthouse:start -->", "<!-- lighthouse:end -->"
REP, MANAGER = "alice", "lighthouse-manager"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"performance": 90, "accessibility": 95, "best-practices": 95}
"""The least score of each category every page must reach (SEO is measured, not targeted)."""
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class Page:
    """A console page to audit: its name in the table, its path (`{lead_id}`, `{contact_id}`
    stand for a record the signed-in user may see) and who is signed in (None: nobody)."""

    name: str
    path: str
    user: str | None


PAGES: tuple[Page, ...] = (
    Page("Sign in", "/app/sign-in", None),
    Page("My day (rep)", "/app/", REP),
    Page("A lead (rep)", "/app/leads/{lead_id}", REP),
    Page("Search results (rep)", "/app/search?q=an", REP),
    Page("A contact (manager)", "/app/contacts/{contact_id}", MANAGER),
    Page("My day (manager)", "/app/", MANAGER),
    Page("Pipeline board (manager)", "/app/pipeline", MANAGER),
    Page("Forecast (manager)", "/app/forecast", MANAGER),
    Page("Segments (manager)", "/app/segments", MANAGER),
    Page("Analytics (manager)", "/app/analytics", MANAGER),
)
"""Every page under /app worth a score; one not there yet (404) is skipped."""


@dataclass(frozen=True)
class Scores:
    """One page's category scores (0-100; None when Lighthouse could not score it)."""

    page: str
    path: str
    scores: Mapping[str, int | None]

    def misses(self, targets: Mapping[str, int] = TARGETS) -> list[str]:
        """The categories under their target, as `accessibility 91 < 95`."""
        return [
            f"{category} {self.scores.get(category)} < {least}"
            for category, least in targets.items()
            if (self.scores.get(category) or 0) < least
        ]


# --- reading a report and writing the table (pure) ------------------------------------------


def scores_of(report: Mapping[str, Any]) -> dict[str, int | None]:
    """The four category scores of a Lighthouse JSON report, as the report's page shows them."""
    categories = report.get("categories", {})
    scores: dict[str, int | None] = {}
    for category in CATEGORIES:
        score = categories.get(category, {}).get("score")
        scores[category] = None if score is None else round(float(score) * 100)
    return scores


def versions_of(report: Mapping[str, Any]) -> tuple[str, str]:
    """The Lighthouse version and the Chromium version a report was made with."""
    agent = str(report.get("environment", {}).get("hostUserAgent", ""))
    chrome = re.search(r"Chrome/([0-9.]+)", agent)
    return str(report.get("lighthouseVersion", "?")), chrome.group(1) if chrome else "?"


def chromium_version(output: str) -> str | None:
    """The version `chromium --version` prints (the report's user agent gives only its major)."""
    match = re.search(r"Chrom(?:e|ium) ([0-9][0-9.]+)", output)
    return match.group(1) if match else None


def median_run(reports: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The run whose performance score is the median (of an even number, the lower one): what
    Lighthouse's own advice on variability says to report of several runs."""
    if not reports:
        raise ValueError("no report")

    def performance(report: Mapping[str, Any]) -> int:
        return scores_of(report)["performance"] or 0

    return sorted(reports, key=performance)[(len(reports) - 1) // 2]


def benchmark_index(report: Mapping[str, Any]) -> int | None:
    """Lighthouse's measure of how fast the machine's CPU was during the run (higher: faster)."""
    value = report.get("environment", {}).get("benchmarkIndex")
    return None if value is None else round(float(value))


def failed_audits(report: Mapping[str, Any], category: str) -> list[str]:
    """The audits of a category that did not pass, as `id (score)`: what to fix first."""
    audits = report.get("audits", {})
    failed = []
    for ref in report.get("categories", {}).get(category, {}).get("auditRefs", []):
        audit = audits.get(ref.get("id"), {})
        score, mode = audit.get("score"), audit.get("scoreDisplayMode")
        if ref.get("weight", 0) > 0 and score is not None and score < 0.9 and mode in ("binary", "numeric"):
            failed.append(f"{ref['id']} ({score:.2f})")
    return failed


def table(
    rows: Sequence[Scores],
    lighthouse: str,
    chromium: str,
    day: str,
    skipped: Sequence[str] = (),
    runs: int = 1,
    benchmarks: Sequence[int] = (),
) -> str:
    """The Markdown block that goes between the markers of docs/console.md."""
    of_runs = f"the median of {runs} runs per page" if runs > 1 else "one run per page"
    machine = f" (Lighthouse's CPU benchmark index {min(benchmarks)}-{max(benchmarks)})" if benchmarks else ""
    lines = [
        f"Lighthouse {lighthouse}, Chromium {chromium} (headless), mobile preset with simulated"
        f" throttling, {of_runs}{machine}, {day}; `make lighthouse`.",
        "",
        "| page | path | performance | accessibility | best practices | SEO |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = ["-" if row.scores.get(c) is None else str(row.scores[c]) for c in CATEGORIES]
        lines.append(f"| {row.page} | `{row.path}` | " + " | ".join(cells) + " |")
    if skipped:
        lines += ["", "Not there yet (404), so not scored: " + ", ".join(f"`{path}`" for path in skipped) + "."]
    return "\n".join(lines)


def between_markers(text: str, block: str) -> str:
    """`text` with what stands between the lighthouse markers replaced by `block`."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the markers {START} and {END} are not in the document")
    return text[: start + len(START)] + "\n" + block.strip("\n") + "\n" + text[end:]


def pages_named(names: Sequence[str]) -> list[Page]:
    """The pages of `PAGES` whose name or path contains one of `names` (all when none given)."""
    if not names:
        return list(PAGES)
    return [page for page in PAGES if any(n.lower() in page.name.lower() or n in page.path for n in names)]


# --- the server and the browser --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _crm(env: Mapping[str, str], *args: str) -> str:
    """Run `crm ARGS` (this checkout's code) and return what it printed on stdout."""
    command = [sys.executable, "-m", "services.cli", *args]
    return subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _get(url: str, headers: Mapping[str, str] | None = None, data: bytes | None = None) -> tuple[int, Any, str]:
    """Status, headers and body of one request (a redirect is answered, not followed)."""
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


def _wait_until(ready: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {seconds:.0f} s")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except OSError:
        return False


@contextmanager
def serving(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`crm serve --demo` over a fresh SQLite store in `folder`: its base URL and the tokens
    of the rep and the manager, until the block ends."""
    env = dict(os.environ, CRM_DATABASE_URL=f"sqlite:///{folder / 'crm.sqlite'}")
    tokens = {
        REP: _crm(env, "token", "issue", "--user", REP, "--role", "rep"),
        MANAGER: _crm(env, "token", "issue", "--user", MANAGER, "--role", "manager"),
    }
    port = _free_port()
    log = (folder / "serve.log").open("w")
    command = [sys.executable, "-m", "services.cli", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: server.poll() is not None or _answers(f"{base}/app/sign-in"), 300, "crm serve answering")
        if server.poll() is not None:
            raise RuntimeError(f"crm serve stopped: {(folder / 'serve.log').read_text()[-2000:]}")
        yield base, tokens
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def settled(answers: Sequence[tuple[int, Mapping[str, Any]]], quiet: int = 4) -> bool:
    """Whether the last `quiet` answers of /readyz are ready, with no read model behind and the
    same head of the log: the demo's jobs have stopped appending (they catch up on the seeded
    history after start, and a page audited meanwhile shares the CPU with them)."""
    last = answers[-quiet:]
    if len(last) < quiet or any(status != 200 for status, _ in last):
        return False
    heads = {body.get("head_position") for _, body in last}
    return len(heads) == 1 and all(not any(dict(body.get("lag") or {}).values()) for _, body in last)


def wait_until_settled(base: str, seconds: float = 300) -> None:
    """Wait until the server's log stops growing (see `settled`); say so when it does not."""
    answers: list[tuple[int, Mapping[str, Any]]] = []

    def check() -> bool:
        status, _, body = _get(f"{base}/readyz")
        answers.append((status, json.loads(body) if status == 200 else {}))
        time.sleep(0.5)  # the pace of the checks: `settled` wants the head unchanged over 2 s
        return settled(answers)

    try:
        _wait_until(check, seconds, "the demo's jobs settling")
    except TimeoutError as error:
        print(f"warning: {error}; auditing anyway", file=sys.stderr)


def sign_in(base: str, token: str) -> str:
    """Sign in through the console's form, as a browser does; the session cookie's value."""
    status, headers, html = _get(f"{base}/app/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    cookie = re.search(rf"{SIGN_IN_COOKIE}=([^;]+)", " ".join(headers.get_all("set-cookie") or []))
    if status != 200 or not csrf:
        raise RuntimeError(f"no sign-in form (HTTP {status})")
    form = urllib.parse.urlencode({"token": token, "csrf_token": csrf.group(1)}).encode()
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        form_headers["Cookie"] = f"{SIGN_IN_COOKIE}={cookie.group(1)}"
    status, headers, _ = _get(f"{base}/app/sign-in", form_headers, form)
    session = re.search(rf"{SESSION_COOKIE}=([^;]+)", " ".join(headers.get_all("set-cookie") or []))
    if status != 303 or not session:
        raise RuntimeError(f"sign-in refused (HTTP {status})")
    return session.group(1)


def records(base: str, cookies: Mapping[str, str], tokens: Mapping[str, str]) -> dict[str, str]:
    """Ids for the paths' placeholders: a lead on the rep's My day, a contact of the API's list
    (any owner's: its page is audited for a manager)."""
    found: dict[str, str] = {}
    _, _, day = _get(f"{base}/app/", {"Cookie": f"{SESSION_COOKIE}={cookies[REP]}"})
    lead = re.search(r"/app/leads/([0-9a-f-]{36})", day)
    if lead:
        found["lead_id"] = lead.group(1)
    status, _, body = _get(f"{base}/v1/contacts?limit=1", {"Authorization": f"Bearer {tokens[MANAGER]}"})
    if status == 200 and json.loads(body).get("items"):
        found["contact_id"] = str(json.loads(body)["items"][0]["id"])
    return found


def lighthouse(url: str, output: Path, cookie: str | None) -> dict[str, Any]:
    """Run Lighthouse (mobile preset, simulated throttling) on one URL; its JSON report."""
    command = [
        str(LIGHTHOUSE),
        url,
        "--output=json",
        f"--output-path={output}",
        "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={' '.join(CHROME_FLAGS)}",
    ]
    if cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': f'{SESSION_COOKIE}={cookie}'})}")
    env = dict(os.environ, CHROME_PATH=CHROMIUM)
    subprocess.run(command, env=env, check=True, stdin=subprocess.DEVNULL)
    report: dict[str, Any] = json.loads(output.read_text())
    return report


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the demo, audit each page, write the table into docs/console.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.lighthouse", description=__doc__)
    parser.add_argument("pages", nargs="*", help="only the pages whose name or path contains one of these")
    parser.add_argument("--runs", type=int, default=3, help="runs per page, the median one counts (default 3)")
    parser.add_argument("--no-docs", action="store_true", help="print the table; leave docs/console.md alone")
    args = parser.parse_args(argv)
    if not os.access(LIGHTHOUSE, os.X_OK):
        print(f"{LIGHTHOUSE} is missing: run `make lighthouse` (it installs tools/ with npm ci)", file=sys.stderr)
        return 2
    REPORTS.mkdir(parents=True, exist_ok=True)
    rows: list[Scores] = []
    skipped: list[str] = []
    versions = ("?", "?")
    benchmarks: list[int] = []
    with tempfile.TemporaryDirectory(prefix="crm-lighthouse-") as folder, serving(Path(folder)) as (base, tokens):
        wait_until_settled(base)
        cookies = {user: sign_in(base, token) for user, token in tokens.items()}
        ids = records(base, cookies, tokens)
        for page in pages_named(args.pages):
            try:
                path = page.path.format(**ids)
            except KeyError as missing:
                print(f"skipped {page.name}: no record for {missing}", file=sys.stderr)
                continue
            cookie = cookies[page.user] if page.user else None
            status = _get(base + path, {"Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {})[0]
            if status == 404:
                print(f"skipped {page.name}: {page.path} answers 404", file=sys.stderr)
                skipped.append(page.path)
                continue
            if status != 200:
                raise RuntimeError(f"{page.name}: {path} answers {status}")
            runs = [
                lighthouse(base + path, REPORTS / f"{_slug(page.name)}-{run}.json", cookie)
                for run in range(1, args.runs + 1)
            ]
            benchmarks += [index for index in map(benchmark_index, runs) if index is not None]
            report = median_run(runs)
            (REPORTS / f"{_slug(page.name)}.json").write_text(json.dumps(report, indent=1))
            versions = versions_of(report)
            row = Scores(page.name, page.path, scores_of(report))
            rows.append(row)
            every = ", ".join(str(scores_of(run)["performance"]) for run in runs)
            print(f"{page.name}: {dict(row.scores)} (performance of each run: {every})", file=sys.stderr)
            for warning in sorted({w for run in runs for w in run.get("runWarnings", [])}):
                print(f"  Lighthouse warns: {' '.join(str(warning).split())}", file=sys.stderr)
            for miss in row.misses():
                category = miss.split()[0]
                print(f"  {miss}: {', '.join(failed_audits(report, category))}", file=sys.stderr)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    printed = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    versions = (versions[0], chromium_version(printed) or versions[1])
    block = table(rows, *versions, day=day, skipped=sorted(set(skipped)), runs=args.runs, benchmarks=benchmarks)
    print(block)
    if not args.no_docs and not args.pages:
        DOCS.write_text(between_markers(DOCS.read_text(), block))
        print(f"written: {DOCS.relative_to(ROOT)}; reports in {REPORTS.relative_to(ROOT)}/", file=sys.stderr)
    missed = [f"{row.page}: {', '.join(row.misses())}" for row in rows if row.misses()]
    if missed:
        print("under target: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
