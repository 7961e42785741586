"""Run a request's effect at most once per (user, Idempotency-Key)."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from common.db import insert_or_skip
from common.errors import ConflictError, UnprocessableError
from common.idempotency.models import IdempotencyRecord


class IdempotencyKeyReused(UnprocessableError):
    code = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotencyKeyBusy(ConflictError):
    code = "idempotency-key-busy"
    title = "Idempotency key busy"


KEY_BUSY = "The Idempotency-Key is in use by another request; retry."
# PostgreSQL's SQLSTATE when a lock wait outlasts lock_timeout (DB_LOCK_TIMEOUT_SECONDS).
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


def request_fingerprint(*, endpoint: str, payload: dict) -> str:
    canonical = json.dumps({"endpoint": endpoint, "payload": payload}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_call(
    *,
    user_id: str,
    key: str,
    fingerprint: str,
    perform: Callable[[], StoredResponse],
) -> StoredResponse:
    """Perform the request once; replay its response to every retry with the same key.

    The key is claimed with INSERT ... ON CONFLICT DO NOTHING in the same transaction as the
    effect. A concurrent request with the same key waits on that insert until the first one
    commits, then replays its response; if the first one failed (raised), nothing of it was
    kept and the waiting request performs the effect itself. Errors are therefore never
    stored: a retry after a 4xx runs again, as with Stripe for requests that did not execute.
    A first request still running when the wait reaches the lock time-out makes the waiting
    one a 409 (key busy; retry), not the 503 of a database outage.
    """
    with transaction.atomic():
        # Twice at most: the record that made the claim fail may be purged (expired) before
        # it is read, and then the key is free to claim again.
        for _ in range(2):
            if _claim(user_id=user_id, key=key, fingerprint=fingerprint):
                break
            if (stored := _replay(user_id=user_id, key=key, fingerprint=fingerprint)) is not None:
                return stored
        else:
            raise IdempotencyKeyBusy(KEY_BUSY)
        response = perform()
        IdempotencyRecord.objects.filter(user_id=user_id, key=key).update(
            response_status=response.status,
            response_body=response.body,
            response_headers=response.headers,
        )
        return response


def _claim(*, user_id: str, key: str, fingerprint: str) -> bool:
    try:
        claimed = insert_or_skip(
            IdempotencyRecord,
            ["user_id", "key"],
            user_id=user_id,
            key=key,
            request_fingerprint=fingerprint,
        )
    except OperationalError as exc:
        # Only the lock wait: any other failure of the database stays a 503.
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise IdempotencyKeyBusy(KEY_BUSY) from exc
        raise
    return claimed is not None


def _replay(*, user_id: str, key: str, fingerprint: str) -> StoredResponse | None:
    record = IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()
    if record is None:
        return None
    if record.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request."
        )
    return StoredResponse(
        status=record.response_status,
        body=record.response_body,
        headers=record.response_headers,
        replayed=True,
    )


def purge_expired_idempotency_records(*, batch_size: int = 1000) -> int:
    """Delete records older than IDEMPOTENCY_KEY_TTL_HOURS, in bounded batches."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(id__in=ids).delete()[0]
