"""zerograd workers package (`celery -A workers worker -Q cpu` finds `workers.app`)."""

from workers.celery_app import app

__all__ = ["app"]
