from decimal import Decimal

from django.db import models
from django.utils import timezone

# NUMERIC(18, 2): balances up to 9,999,999,999,999,999.99, far above any single amount.
MONEY = {"max_digits": 18, "decimal_places": 2}
MAX_BALANCE = Decimal("9999999999999999.99")


class Account(models.Model):
    """A user's balance. Changed only by the service functions, each with a ledger entry."""

    user_id = models.CharField(max_length=64, unique=True)
    balance = models.DecimalField(**MONEY, default=Decimal("0.00"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The last line of defence behind the debit check in the service.
            models.CheckConstraint(
                condition=models.Q(balance__gte=0), name="account_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"account of {self.user_id}"


class LedgerEntry(models.Model):
    """One balance change. An account's balance always equals the sum of its entries."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit"
        CHARGE = "charge"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Signed: deposits add (> 0), charges subtract (< 0), so a balance is a plain SUM.
    amount = models.DecimalField(**MONEY)
    # The deposit's Idempotency-Key (or a generated id), or the order id of a charge.
    reference = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="deposit", amount__gt=0) | models.Q(kind="charge", amount__lt=0)
                ),
                name="ledger_entry_sign_matches_kind",
            ),
            # An order is charged at most once, whatever the messages say.
            models.UniqueConstraint(
                fields=["reference"],
                condition=models.Q(kind="charge"),
                name="ledger_one_charge_per_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.reference})"


class Payment(models.Model):
    """The outcome of paying one order: exactly one per order id, whatever the messages say.

    A repeated "order created" (a redelivery, or a copy under a new message id) finds this
    row and is answered with the same outcome; nothing is charged twice.
    """

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class FailureReason(models.TextChoices):
        INSUFFICIENT_FUNDS = "insufficient_funds"
        ACCOUNT_NOT_FOUND = "account_not_found"

    order_id = models.UUIDField(unique=True)
    user_id = models.CharField(max_length=64)
    amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(status="succeeded", reason="")
                    | models.Q(
                        status="failed", reason__in=["insufficient_funds", "account_not_found"]
                    )
                ),
                name="payment_reason_iff_failed",
            ),
        ]

    def __str__(self) -> str:
        return f"payment of order {self.order_id}: {self.status}"


class LedgerAudit(models.Model):
    """One run of the ledger audit (payments/audit.py): kept, so the last result is in the
    admin and in the metrics (shop_ledger_audit_ok) whatever process ran it."""

    ran_at = models.DateTimeField(default=timezone.now, db_index=True)
    accounts_out_of_balance = models.PositiveIntegerField()
    report = models.TextField(blank=True)

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        outcome = "ok" if self.ok else "FAILED"
        return f"ledger audit at {self.ran_at:%Y-%m-%d %H:%M:%S}: {outcome}"

    @property
    def ok(self) -> bool:
        return self.accounts_out_of_balance == 0
