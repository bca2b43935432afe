"""The Jinja2 environment (autoescape on) shared by pages and error responses."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from grader import feedback

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["feedback"] = feedback.build  # report dict -> what the student reads
