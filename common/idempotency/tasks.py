from celery import shared_task

from common.idempotency.services import purge_expired_idempotency_records


@shared_task(name="idempotency.purge_expired", ignore_result=True)
def purge_expired() -> int:
    return purge_expired_idempotency_records()
