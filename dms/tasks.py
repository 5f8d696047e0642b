"""Housekeeping tasks of the foundation: purge expired idempotency records; retry an audit
listener (webhook publishing) that failed after its transaction committed."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task
def purge_idempotency_records() -> int:
    from dms.api.idempotency import purge_expired

    return purge_expired()


@shared_task(bind=True, max_retries=8, acks_late=True)
def retry_audit_listener(self, listener: str, entry_ids: list[int]) -> None:
    """Run again an audit listener that failed after commit (`dms.audit`); backs off 30 s,
    1 min, 2 min … and logs each failure. The listeners are idempotent."""
    from dms import audit

    try:
        audit.call_listener(listener, entry_ids)
    except Exception as exc:
        log.warning("Audit listener %s failed again for %s", listener, entry_ids, exc_info=True)
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc
