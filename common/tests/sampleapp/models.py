from django.db import models


class Effect(models.Model):
    """One row per handler run: a duplicate handling would show as a second row."""

    message_id = models.CharField(max_length=200)
    value = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"effect {self.value} of {self.message_id}"


class Note(models.Model):
    """A row that points at an effect: its foreign key is checked at COMMIT by default
    (Django makes it DEFERRABLE INITIALLY DEFERRED on PostgreSQL)."""

    effect = models.ForeignKey(Effect, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return f"note on effect {self.effect_id}"
