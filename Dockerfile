# Production image: gunicorn serves the web app (whitenoise for static files); the same image
# runs the Celery worker and beat with another command (see compose.yaml).
FROM python:3.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PRODUCTION=true \
    DATA_DIR=/data \
    ARCHIVE_ROOT=/data/archive

WORKDIR /app
RUN useradd --system --uid 1000 --home-dir /app backupweb \
    && mkdir -p /data && chown backupweb /data

COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
# collectstatic needs settings but no real secrets: give it throwaway ones at build time only.
RUN SECRET_KEY=build-only FERNET_KEYS=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY= \
    python manage.py collectstatic --noinput -v 0

USER backupweb
EXPOSE 8000
CMD ["gunicorn", "backupweb.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
