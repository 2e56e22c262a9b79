"""The worker process's entry point (`celery -A workers.main worker`): the one place that reads
the environment's settings and builds the app; everything else takes them as arguments."""

from shared.settings import get_settings
from workers.celery_app import create_worker_app

app = create_worker_app(get_settings())
