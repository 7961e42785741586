"""The relay's and the drain's own rates, in a process of Orders (production settings, the
bench stack's database and broker), with the Orders worker and beat stopped so nothing else
takes the rows:

    python -m bench.messaging_rates relay N   # N pending outbox rows -> published, confirmed
    python -m bench.messaging_rates drain N   # N pending payment results -> orders FINISHED

Prints one JSON object, on a line of its own after RESULT_PREFIX: messages, seconds, rate
per second. The process logs to stdout as the services do (common/logging.py), so the
result is the line with the prefix, not all of stdout.
"""

import json
import sys
import time
import uuid

import django

# About the size of a real order.created envelope's payload.
PAD = "x" * 200
RESULT_PREFIX = "bench-result: "


def relay_rate(count: int) -> dict:
    from common.messaging.conf import messaging_settings
    from common.messaging.models import OutboxMessage
    from common.messaging.relay import relay_outbox
    from common.testing import broker

    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                type="bench.ping", destination="bench", payload={"n": n, "pad": "x" * 200}
            )
            for n in range(count)
        ],
        batch_size=1000,
    )
    started = time.perf_counter()
    while OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).exists():
        relay_outbox(max_batches=1_000_000)
    elapsed = time.perf_counter() - started
    published = OutboxMessage.objects.filter(type="bench.ping", status="sent").count()
    OutboxMessage.objects.filter(type="bench.ping").delete()
    broker.delete(messaging_settings().queue_name("bench"))
    return {"messages": published, "seconds": round(elapsed, 3), "rate": round(published / elapsed)}


def drain_rate(count: int) -> dict:
    from common.messaging.drain import drain_inbox
    from common.messaging.models import InboxMessage
    from orders_project.orders.models import Order

    orders = Order.objects.bulk_create(
        [Order(user_id="bench", amount=1, description="bench") for _ in range(count)],
        batch_size=1000,
    )
    InboxMessage.objects.bulk_create(
        [
            InboxMessage(
                message_id=f"bench-{uuid.uuid4()}",
                type="payment.result",
                source_queue="bench",
                payload={
                    "order_id": str(order.id),
                    "user_id": "bench",
                    "amount": "1.00",
                    "status": "succeeded",
                    "reason": None,
                },
            )
            for order in orders
        ],
        batch_size=1000,
    )
    started = time.perf_counter()
    while InboxMessage.objects.filter(status=InboxMessage.Status.PENDING).exists():
        drain_inbox(max_messages=1_000_000)
    elapsed = time.perf_counter() - started
    finished = Order.objects.filter(user_id="bench", status=Order.Status.FINISHED).count()
    InboxMessage.objects.filter(source_queue="bench").delete()
    Order.objects.filter(user_id="bench").delete()
    return {"messages": finished, "seconds": round(elapsed, 3), "rate": round(finished / elapsed)}


def result_of(output: str) -> dict:
    """The result in the output of `python -m bench.messaging_rates`, among log lines."""
    results = [
        line.removeprefix(RESULT_PREFIX)
        for line in output.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]
    if not results:
        raise RuntimeError(f"no {RESULT_PREFIX!r} line in the output: {output[-500:]!r}")
    return json.loads(results[-1])


def main() -> None:
    django.setup()
    what, count = sys.argv[1], int(sys.argv[2])
    result = (relay_rate if what == "relay" else drain_rate)(count)
    sys.stdout.write(f"\n{RESULT_PREFIX}{json.dumps(result)}\n")


if __name__ == "__main__":
    main()
