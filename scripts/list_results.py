"""List submissions through the staff API with an API token (create one on /dashboard/tokens).

    ZEROGRAD_API_TOKEN=zg_... python scripts/list_results.py http://127.0.0.1:8000 [--week 1]
"""

from __future__ import annotations

import argparse
import os
import sys

import httpx


def main(argv: list[str] | None = None) -> int:
    """Print login, week, status and score of the newest submissions, tab-separated."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="the service's base URL")
    p.add_argument("--week", type=int)
    p.add_argument("--limit", type=int, default=200)
    a = p.parse_args(argv)
    token = os.environ.get("ZEROGRAD_API_TOKEN", "")
    if not token:
        print("set ZEROGRAD_API_TOKEN (create a token on /dashboard/tokens)", file=sys.stderr)
        return 2
    params: dict[str, int] = {"limit": a.limit, **({"week": a.week} if a.week else {})}
    r = httpx.get(f"{a.url.rstrip('/')}/api/submissions", params=params, timeout=30,
                  headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        print(f"error: HTTP {r.status_code}: {r.text[:300]}", file=sys.stderr)
        return 1
    print("github_login\tweek\tstatus\tscore\tmax_score\tsubmitted_by\tid")
    for s in r.json():
        print("\t".join(str(s.get(k) if s.get(k) is not None else "") for k in (
            "github_login", "week", "status", "score", "max_score", "submitted_by", "id")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
