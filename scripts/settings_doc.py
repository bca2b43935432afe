"""Print README.md's settings reference, generated from app.config.Settings.

    .venv/bin/python scripts/settings_doc.py            # print the table
    .venv/bin/python scripts/settings_doc.py --write    # replace it in README.md
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.settings_doc import BEGIN, END, table  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"


def write() -> None:
    """Replace the table between the markers in README.md."""
    text = README.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{BEGIN}\n{table()}{END}{tail}")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write()
    else:
        print(table(), end="")
