"""Test helpers: log a TestClient in as an instructor; pull the CSRF token out of a page."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from tests.factories import make_instructor

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    m = _TOKEN.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: Any, session: Session, login: str | None = None) -> str:
    """Create an instructor, log in through the form; the dashboard's CSRF token."""
    row = make_instructor(session, password=PASSWORD, **({"login": login} if login else {}))
    session.commit()
    page = client.get("/login")
    r = client.post("/login", data={"login": row.login, "password": PASSWORD,
                                    "csrf": csrf_of(page.text), "next": "/dashboard"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    dash = client.get("/dashboard")
    assert dash.status_code == 200, dash.text
    return csrf_of(dash.text)


def bearer(session: Session, login: str | None = None) -> dict[str, str]:
    """Create an instructor and an API token; the Authorization header for it."""
    from app.services import tokens

    row = make_instructor(session, password=PASSWORD, **({"login": login} if login else {}))
    _tok, value = tokens.create(session, row, "tests")
    session.commit()
    return {"Authorization": f"Bearer {value}"}
