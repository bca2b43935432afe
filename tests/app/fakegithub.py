"""A loopback fake GitHub: OAuth authorize + token endpoints, /user, repo metadata, commit
trees, statuses."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

CLIENT_ID, CLIENT_SECRET = "fake-client-id", "fake-client-secret"


@dataclass
class FakeGitHub:
    """What the fake knows; tests add repos and read statuses and token exchanges."""

    url: str = ""
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> login
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)  # "owner/repo" -> metadata
    statuses: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    trees: dict[str, list[str]] = field(default_factory=dict)  # "owner/repo@sha" -> file paths
    tree_requests: list[str] = field(default_factory=list)
    tree_status: int = 200  # set to 500/502 to play a GitHub outage on the trees API

    def add_fork(self, owner: str, name: str, parent: str | None = "course/zero-to-hero") -> None:
        """Repo metadata for owner/name (a fork of `parent`, or not a fork when None)."""
        self.repos[f"{owner}/{name}".lower()] = {
            "full_name": f"{owner}/{name}", "owner": {"login": owner}, "fork": parent is not None,
            **({"parent": {"full_name": parent}} if parent else {})}

    def reset(self) -> None:
        """Forget everything (between tests)."""
        for d in (self.codes, self.tokens, self.repos, self.trees):
            d.clear()
        self.tree_requests.clear()
        self.tree_status = 200
        self.statuses.clear()
        self.exchanges.clear()


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode() \
        .rstrip("=")


def build_app(fake: FakeGitHub) -> FastAPI:
    """The ASGI app behind the fake."""
    app = FastAPI()

    @app.get("/login/oauth/authorize", response_class=HTMLResponse)
    def authorize_form(request: Request) -> HTMLResponse:
        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                         for k, v in request.query_params.items())
        return HTMLResponse(f'<h1>Fake GitHub</h1><form method="post">{hidden}'
                            '<input name="login" id="login"><button id="authorize">Authorize'
                            '</button></form>')

    @app.post("/login/oauth/authorize")
    def authorize(login: str = Form(), client_id: str = Form(), redirect_uri: str = Form(),
                  state: str = Form(), code_challenge: str = Form(""),
                  code_challenge_method: str = Form("")) -> Response:
        if client_id != CLIENT_ID or code_challenge_method != "S256" or not code_challenge:
            return JSONResponse({"error": "bad authorize request"}, status_code=400)
        code = secrets.token_hex(10)
        fake.codes[code] = {"login": login, "redirect_uri": redirect_uri,
                            "challenge": code_challenge}
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}",
                                status_code=303)

    @app.post("/login/oauth/access_token")
    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        fake.exchanges.append(form)
        grant = fake.codes.pop(form.get("code", ""), None)  # one use
        ok = (grant is not None and form.get("client_id") == CLIENT_ID
              and form.get("client_secret") == CLIENT_SECRET
              and form.get("redirect_uri") == grant["redirect_uri"]
              and _s256(form.get("code_verifier", "")) == grant["challenge"])
        if not ok or grant is None:  # GitHub answers 200 with an error field
            return JSONResponse({"error": "bad_verification_code"})
        access = "gho_" + secrets.token_hex(16)
        fake.tokens[access] = grant["login"]
        return JSONResponse({"access_token": access, "token_type": "bearer", "scope": ""})

    @app.get("/user")
    def user(request: Request) -> JSONResponse:
        login = fake.tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if login is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse({"login": login, "id": abs(hash(login)) % 10**8})

    @app.get("/repos/{owner}/{name}")
    def repo(owner: str, name: str) -> JSONResponse:
        meta = fake.repos.get(f"{owner}/{name}".lower())
        return JSONResponse(meta or {"message": "Not Found"}, status_code=200 if meta else 404)

    @app.get("/repos/{owner}/{name}/git/trees/{sha}")
    def tree(owner: str, name: str, sha: str, recursive: str = "") -> JSONResponse:
        key = f"{owner}/{name}@{sha}".lower()
        fake.tree_requests.append(key)
        paths = fake.trees.get(key)
        if fake.tree_status != 200:
            return JSONResponse({"message": "Server Error"}, status_code=fake.tree_status)
        if paths is None or recursive != "1":
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return JSONResponse({"sha": sha, "truncated": False, "tree": [
            {"path": p, "mode": "100644", "type": "blob", "sha": "0" * 40} for p in paths] + [
            {"path": p.rsplit("/", 1)[0], "mode": "040000", "type": "tree", "sha": "1" * 40}
            for p in paths if "/" in p]})

    @app.post("/repos/{owner}/{name}/statuses/{sha}")
    async def status(owner: str, name: str, sha: str, request: Request) -> JSONResponse:
        fake.statuses.append({"repo": f"{owner}/{name}", "sha": sha, **(await request.json())})
        return JSONResponse({"ok": True}, status_code=201)

    return app


@contextmanager
def serve() -> Iterator[FakeGitHub]:
    """Run the fake on a free loopback port in a thread."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    fake = FakeGitHub(url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(build_app(fake), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake GitHub did not start")
        time.sleep(0.02)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(10)
