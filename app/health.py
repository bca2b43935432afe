"""Start-up checks: what would make the service accept work it cannot grade (loud warnings)."""

from __future__ import annotations

import logging
from pathlib import Path

from app.config import Settings
from grader.data import DATASETS

log = logging.getLogger("zerograd.health")


def missing_data(data_dir: Path) -> list[str]:
    """Course data files absent from data_dir (or of the wrong size)."""
    out = []
    for ds in DATASETS:
        p = Path(data_dir) / ds.name
        if not p.is_file() or p.stat().st_size != ds.size:
            out.append(ds.name)
    return out


def problems(settings: Settings) -> list[str]:
    """Human-readable configuration problems (empty when all is well)."""
    out = []
    gone = missing_data(settings.data_dir)
    if gone:
        out.append(f"course data missing in {settings.data_dir} ({', '.join(gone)}): weeks 2-6 "
                   "cannot be graded; run `zerograd data fetch` (compose: the data-fetch "
                   "service) or set ZEROGRAD_DATA_DIR")
    if not Path(settings.course_config).is_file():
        out.append(f"course policy {settings.course_config} not found: no deadlines, late "
                   "penalties or quotas apply; set ZEROGRAD_COURSE_CONFIG")
    return out


def check_at_startup(settings: Settings) -> list[str]:
    """Log each problem loudly (WARNING) and return them for the dashboard's health flag."""
    found = problems(settings)
    for p in found:
        log.warning("zerograd: %s", p)
    return found
