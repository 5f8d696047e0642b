# DMS-lite application image: the web app (gunicorn), the Celery worker and Celery beat.
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund && npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=dms.settings.production
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 dms
WORKDIR /app
COPY pyproject.toml constraints.txt ./
RUN pip install -c constraints.txt .
COPY . .
COPY --from=assets /build/static/vendor ./static/vendor
# Build-time values only: collectstatic and compilemessages need settings to load.
RUN DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build/build REDIS_URL=redis://build:6379/0 \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput -v 0 \
    && DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build/build REDIS_URL=redis://build:6379/0 \
    ALLOWED_HOSTS=build python manage.py compilemessages -v 0 \
    && mkdir -p /app/var/media && chown -R dms /app/var
USER dms
EXPOSE 8000
CMD ["gunicorn", "dms.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
