# zerograd images. Targets:
#   web    - API, migrations, the `zerograd` command (first instructor, settings-doc): no torch,
#            no sandbox tools (stays small and CPU-only)
#   worker - grading workers: torch, bubblewrap, git. The default torch wheel on linux/amd64
#            carries CUDA (for the gpu queue); for a CPU-only image pass
#            --build-arg PIP_EXTRA_INDEX_URL=<a CPU wheel index> at build time.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/zerograd
COPY requirements.txt pyproject.toml ./
RUN grep -v '^torch==' requirements.txt > /tmp/requirements-web.txt \
 && pip install -r /tmp/requirements-web.txt
# course policy (deadlines, penalties, quota); compose mounts the host's copy over it (editable)
COPY course.toml ./
COPY scripts/docker-entrypoint.sh /usr/local/bin/zerograd-entrypoint
# mount points owned by the service user, so fresh named volumes are writable by it
RUN useradd --system --uid 10001 zerograd \
 && mkdir -p /data /secrets && chown zerograd /data /secrets
ENV ZEROGRAD_COURSE_CONFIG=/srv/zerograd/course.toml ZEROGRAD_DATA_DIR=/data
ENTRYPOINT ["zerograd-entrypoint"]

FROM base AS web
COPY app app
COPY grader grader
COPY migrations migrations
COPY alembic.ini ./
RUN pip install --no-deps -e .
USER zerograd
EXPOSE 8000
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]

FROM base AS worker
ARG PIP_EXTRA_INDEX_URL=""
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap libseccomp2 util-linux git \
    ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && pip install "$(grep '^torch==' requirements.txt)"
COPY app app
COPY grader grader
COPY reference reference
COPY workers workers
COPY migrations migrations
COPY alembic.ini ./
RUN pip install --no-deps -e .
# The worker runs as root in its container (docker-compose.yml drops every capability but the
# few it needs) so that each job runs as its own unprivileged uid slot; the worker refuses to
# grade when a job would not (see the sandbox notes in docker-compose.yml and the README).
USER root
CMD ["celery", "-A", "workers", "worker", "-Q", "cpu", "--concurrency", "2"]
