import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "NEW"
        FINISHED = "FINISHED"
        CANCELLED = "CANCELLED"

    class CancelReason(models.TextChoices):
        INSUFFICIENT_FUNDS = "insufficient_funds"
        ACCOUNT_NOT_FOUND = "account_not_found"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    description = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    reason = models.CharField(max_length=32, choices=CancelReason.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The time of the last status change (not of any save): with created_at it gives the
    # time an order took to be paid or cancelled.
    updated_at = models.DateTimeField(default=timezone.now)
    # The X-Request-Id of the request that placed the order: a re-asked "order created"
    # carries it again, so the trace of an order stays one id. (The new columns have
    # database defaults: code of the release before, still running during a deploy, and
    # plain SQL inserts keep working.)
    request_id = models.CharField(max_length=128, blank=True, db_default="")
    # The saga closes itself (services.orders_reask_stale): how often "order created" was
    # sent again for this order, and when it may be sent again at the earliest.
    reask_count = models.PositiveIntegerField(default=0, db_default=0)
    next_reask_at = models.DateTimeField(null=True, blank=True)
    # When the order was reported as stuck (NEW past the deadline): reported once, not at
    # every sweep.
    stuck_reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # GET /orders: a user's orders newest first, paged by (created_at, id).
            models.Index(
                "user_id",
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="order_user_newest_idx",
            ),
            models.Index(fields=["status", "created_at"], name="order_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=Decimal("0")), name="order_amount_positive"
            ),
            # Only a cancelled order has a reason, and it always has one.
            models.CheckConstraint(
                condition=(
                    models.Q(
                        status="CANCELLED", reason__in=["insufficient_funds", "account_not_found"]
                    )
                    | (~models.Q(status="CANCELLED") & models.Q(reason=""))
                ),
                name="order_reason_iff_cancelled",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"
