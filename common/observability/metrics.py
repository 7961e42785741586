"""Every metric a process records, declared in one place (docs/observability.md lists them,
with what each means; dashboards and alerts rely on these names).

The values live in the process that records them; with PROMETHEUS_MULTIPROC_DIR set (the
gunicorn workers of a web service, a Celery worker and its pool) each process writes them
to files there and a scrape adds up the files (common/observability/exposition.py). The
figures read from a database at scrape time are not here: see scrape_time.py.

Recording is cheap (a counter is one write to a memory-mapped file), so it is always on;
the benchmark reports what it costs (docs/performance.md).
"""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# HTTP, in every web process (the gateway's included).
http_requests = Counter("shop_http_requests", "Requests answered.", ["route", "method", "status"])
http_request_duration = Histogram(
    "shop_http_request_duration_seconds",
    "Time from a request reaching Django to its answer.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
upstream_requests = Counter(
    "shop_gateway_upstream_requests",
    "The gateway's calls to a service, by HTTP status or 'timeout'/'unavailable'.",
    ["upstream", "status"],
)
upstream_duration = Histogram(
    "shop_gateway_upstream_duration_seconds",
    "Time of one call from the gateway to a service.",
    ["upstream"],
    buckets=LATENCY_BUCKETS,
)
rate_limited = Counter(
    "shop_gateway_rate_limited",
    "Requests the gateway refused with 429, by the limit they exceeded ('user', 'address'; "
    "one over both counts under both).",
    ["scope"],
)
rate_limit_store_errors = Counter(
    "shop_gateway_rate_limit_store_errors",
    "Requests let through unchecked because Redis, the rate limits' store, did not answer.",
)
live_subscribers = Gauge(
    "shop_gateway_live_subscribers",
    "Clients waiting on an order's status (event streams and long-polls), summed over the "
    "gateway's live processes.",
    multiprocess_mode="livesum",
)
live_notifications = Counter(
    "shop_gateway_live_notifications",
    "Order changes the gateway's listeners received from Orders (LISTEN/NOTIFY), per process.",
)

# Messaging, in whichever process publishes or consumes.
messages_published = Counter("shop_messages_published", "Messages the broker confirmed.", ["type"])
publish_failures = Counter(
    "shop_messages_publish_failures",
    "Publishes the broker refused ('rejected') or did not confirm in time ('unconfirmed').",
    ["reason"],
)
messages_consumed = Counter(
    "shop_messages_consumed", "Deliveries stored in the inbox, duplicates included.", ["queue"]
)
messages_duplicate = Counter(
    "shop_messages_duplicates", "Deliveries the inbox absorbed as already seen.", ["queue"]
)
messages_parked = Counter(
    "shop_messages_parked", "Messages parked as failed for an operator.", ["queue"]
)
handler_duration = Histogram(
    "shop_message_handler_seconds",
    "Time of one handler run.",
    ["type"],
    buckets=HANDLER_BUCKETS,
)
handler_failures = Counter("shop_message_handler_failures", "Handler runs that raised.", ["type"])
batch_size = Histogram(
    "shop_message_batch_size",
    "Messages per consumer transaction ('consume') or per relay publish ('relay').",
    ["stage"],
    buckets=BATCH_BUCKETS,
)
outbox_listener_wakeups = Counter(
    "shop_outbox_listener_wakeups",
    "Relay runs of the worker's outbox listener (MESSAGING_PUBLISH_AFTER_COMMIT_BY=worker): "
    "one per batch of notifications, and one after each (re)connection.",
)
outbox_listener_reconnects = Counter(
    "shop_outbox_listener_reconnects",
    "Times the worker's outbox listener lost its PostgreSQL connection (or could not make it).",
)

# Business events, recorded where they happen (the services).
orders_created = Counter("shop_orders_created", "Orders placed.")
orders_completed = Counter("shop_orders_completed", "Orders that left NEW.", ["status", "reason"])
orders_stuck = Counter(
    "shop_orders_stuck", "Orders first reported NEW past ORDERS_STUCK_AFTER_SECONDS."
)
payments = Counter("shop_payments", "Orders paid or refused by Payments.", ["outcome", "reason"])
deposits = Counter("shop_deposits", "Deposits applied (a replayed request is not counted).")
