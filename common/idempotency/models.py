from django.db import models


class IdempotencyRecord(models.Model):
    """One use of an Idempotency-Key: the request it was sent with and the response it got.

    The record is written in the same transaction as the request's effect, so either both
    exist or neither does; a retry finds the stored response and replays it.
    """

    user_id = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    # sha256 of the endpoint and the validated request body: the same key with another
    # request is refused instead of replaying an answer to a different question.
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            # Keys are scoped per user: two users may pick the same key.
            models.UniqueConstraint(fields=["user_id", "key"], name="idempotency_key_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
