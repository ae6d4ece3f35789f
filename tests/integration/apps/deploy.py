"""Two releases of one app, for rolling-deploy tests.

``DEPLOY_CODE=old`` registers version 1 of ``deploy.greet`` only; ``DEPLOY_CODE=new``
registers version 1 unchanged plus a version 2 that calls a new activity. Workers of
both releases share one database and broker, as they would during a rolling deploy.
"""

from __future__ import annotations

import os

from celery import Celery

from continuum_celery import Continuum, workflow
from continuum_celery.runtime.sweeper import UpkeepSettings

CODE = os.environ.get("DEPLOY_CODE", "new")

app = Celery("deploy", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_default_queue="deploy",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    database_url=os.environ.get("DEPLOY_DATABASE_URL"),
    upkeep_interval=0.5,
    upkeep=UpkeepSettings(wake_stale_after=0.5, task_stale_after=1.0),
)


@cx.workflow(name="deploy.greet", version=1)
def greet_v1(name: str) -> str:
    workflow.wait_signal("go")
    return f"v1 hello {name}"


if CODE == "new":
    # A new activity rides a queue only new workers consume: an old worker would
    # drop a task it has no code for (Celery discards unregistered tasks).
    @cx.activity(name="deploy.shout", queue="deploy-v2")
    def shout(name: str) -> str:
        return name.upper()

    @cx.workflow(name="deploy.greet", version=2)
    def greet_v2(name: str) -> str:
        loud = shout(name)
        workflow.wait_signal("go")
        return f"v2 hello {loud}"
