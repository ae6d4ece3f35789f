"""Example Celery settings for an app that runs continuum_celery workflows.

Load it with ``app.config_from_object("celeryconfig")``. Each setting says why it
matters for durable workflows; the journal in Postgres is the source of truth, so
the broker only has to deliver every task at least once.
"""

import os

# Redis by default; RabbitMQ works too (amqp://guest:guest@127.0.0.1:5672//).
broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")

# JSON only: workflow inputs and results are journaled as JSON anyway, and never
# accepting pickle keeps a compromised broker from running code on the workers.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

# No result backend: the journal holds every step's result and a workflow's
# outcome, so a second copy would only cost a round trip per task.
result_backend = None

# Acknowledge a message only after the task finished, and give it back when the
# worker process dies mid-task, so a crash means redelivery, not a lost step.
# Replays are safe because the journal fences steps that already completed.
task_acks_late = True
task_reject_on_worker_lost = True

# Reserve one message per process at a time: with late acks, prefetched
# messages of a dead worker would wait for the visibility timeout.
worker_prefetch_multiplier = 1

# Redis redelivers an unacknowledged message after this many seconds. It must
# exceed the longest task (and any countdown/ETA), or a task still running
# would be handed to a second worker.
broker_transport_options = {"visibility_timeout": 3600}

# Task events, including "sent", so Flower and `celery events` show workflow
# steps from the moment they are queued.
worker_send_task_events = True
task_send_sent_event = True

# Keep retrying the broker at startup, so workers started together with Redis or
# RabbitMQ simply wait for it. Celery 5 warns when this is left unset, because
# broker_connection_retry stops covering startup in Celery 6.
broker_connection_retry_on_startup = True
