# One image for every CRM process: `crm serve` (the default), `crm relay`, `crm consume ...`,
# and the operator commands (`crm status`, `crm replay`, `crm verify`, ...).
#
#   docker build -t crm-eventlog .
#   docker run --rm -p 8000:8000 crm-eventlog                       # the API on the embedded SQLite
#   docker run --rm -e CRM_DATABASE_URL=postgresql://... crm-eventlog relay
#
# Settings come from the CRM_* environment variables (services/settings.py); see
# docs/operations.md and docker-compose.yml for the whole stack.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project (not in editable mode) and drop the sources: the processes run from
# site-packages. README.md is the project's readme in pyproject.toml, so the build needs it;
# projections/*.json (the default segment rules) is package data.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain/ domain/
COPY projections/ projections/
COPY consumers/ consumers/
COPY services/ services/
RUN pip install . && cd / && rm -rf /src

# A non-root user whose home is the working directory: the embedded SQLite default
# (sqlite:///var/crm.sqlite) and `crm serve --demo`'s token file go under ./var.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /srv/crm crm
USER crm
WORKDIR /srv/crm

EXPOSE 8000

# For `crm serve` only (port 8000 as in CMD): /healthz answers 200 when the event store answers.
# There is no curl in the slim image; urlopen raises on a refused connection or a 503.
# Services that run another command (relay, consumers) disable it in docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["crm"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
