# DMS-lite application image: one image for every process of the stack — the one-shot migrate,
# the web app (gunicorn), the Celery workers (one service per queue) and the one Celery beat.
# docker-compose.yml builds it once (service `migrate`) and every other service runs it.
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund && npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=dms.settings.production \
    STATIC_ROOT=/app/staticfiles MEDIA_ROOT=/app/var/media
# gettext for compilemessages, curl for the container healthchecks, postgresql-client (15, as
# the compose file's server) for deploy/backup.sh and deploy/restore.sh
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl postgresql-client \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 --shell /usr/sbin/nologin dms
WORKDIR /app
COPY pyproject.toml constraints.txt ./
RUN pip install -c constraints.txt . && pip check
# the source only: .dockerignore keeps out .env, .git, .venv, node_modules and var/
COPY . .
COPY --from=assets /build/static/vendor ./static/vendor
# Build-time placeholders only: collectstatic and compilemessages need the settings to load
# (they touch neither the database nor Redis). Code and static files stay owned by root.
RUN DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build/build REDIS_URL=redis://build:6379/0 \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput -v 0 \
    && DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build/build REDIS_URL=redis://build:6379/0 \
    ALLOWED_HOSTS=build python manage.py compilemessages --ignore=.venv -v 0 \
    && mkdir -p /app/var/media /tmp/prometheus && chown -R dms /app/var /tmp/prometheus
USER dms
EXPOSE 8000
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "dms.wsgi:application"]
