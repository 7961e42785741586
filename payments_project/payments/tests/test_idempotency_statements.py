"""What an Idempotency-Key costs in statements (docs/performance.md, "Web tier"): two on a
first request (claim the key, store the response) and two on a retry (the claim that finds
the key taken, the read of the stored response) that does nothing else."""

import pytest
from django.db import connection


def statements_of(call) -> list[str]:
    # Not CaptureQueriesContext: a request's start empties the log it reads.
    statements = []

    def record(execute, sql, params, many, context):
        # Savepoints are the test's: its transaction turns the request's own into them.
        if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        call()
    return statements


@pytest.mark.django_db
def test_a_key_costs_two_statements_and_its_retry_two_without_the_deposit(caller):
    caller.post("/accounts")

    def deposit(headers=None):
        return lambda: caller.post("/accounts/deposit", {"amount": "1"}, headers=headers)

    plain = statements_of(deposit())
    first = statements_of(deposit({"Idempotency-Key": "k"}))
    retry = statements_of(deposit({"Idempotency-Key": "k"}))

    assert len(first) == len(plain) + 2
    assert [sql.split()[0] for sql in first[:1] + first[-1:]] == ["INSERT", "UPDATE"]
    assert len(retry) == 2
    assert retry[0].startswith('INSERT INTO "idempotency_idempotencyrecord"')
    assert retry[1].startswith("SELECT")
