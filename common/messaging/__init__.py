"""Reliable messaging between services: a transactional outbox and an idempotent inbox.

A service records events with `common.messaging.events.record_event` inside its business
transaction and declares, in settings.MESSAGING, where each event type goes (ROUTES), which
queues it consumes (CONSUME) and which function handles each incoming type (HANDLERS).
Everything that talks to RabbitMQ lives here; no service opens a broker connection itself.
See docs/messaging.md.
"""
