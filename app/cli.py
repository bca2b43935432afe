"""`zerograd` entry point: service sub-commands here, everything else to grader.cli."""

from __future__ import annotations

import argparse
import getpass
import sys

USAGE = ("zerograd create-instructor LOGIN [--password-stdin] | zerograd first-instructor | "
         "zerograd settings-doc")


def create_instructor(argv: list[str]) -> int:
    """Create an instructor login (password from stdin or an interactive prompt)."""
    from app.config import get_settings
    from app.db import session_scope
    from app.errors import AppError
    from app.services.auth import create_instructor as create

    p = argparse.ArgumentParser(prog="zerograd create-instructor")
    p.add_argument("login")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    a = p.parse_args(argv)
    if a.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            print("error: the passwords differ", file=sys.stderr)
            return 2
    try:
        with session_scope(get_settings()) as session:
            create(session, a.login, password)
    except AppError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    print(f"instructor {a.login!r} created")
    return 0


def first_instructor(argv: list[str]) -> int:
    """Create `admin` with a random password when there is no instructor; print it once."""
    from app.config import get_settings
    from app.serve import ensure_instructor

    p = argparse.ArgumentParser(prog="zerograd first-instructor")
    p.add_argument("--login", default="admin")
    a = p.parse_args(argv)
    password = ensure_instructor(get_settings(), a.login)
    if password is None:
        print("zerograd: an instructor exists already; nothing created")
    else:
        print(f"zerograd: instructor login created: {a.login} / {password} (shown once)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch: service sub-commands here; every other sub-command to grader.cli.main."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["create-instructor"]:
        return create_instructor(args[1:])
    if args[:1] == ["first-instructor"]:
        return first_instructor(args[1:])
    if args[:1] == ["settings-doc"]:
        from app.settings_doc import main as settings_doc

        return settings_doc()
    from grader.cli import main as grader_main

    return grader_main(args)


if __name__ == "__main__":
    sys.exit(main())
