"""Tasks on the task pod profiles of staging and prod (README, "Task pod profiles").

A task picks a profile's pod_template_file in its executor_config. A profile with slots (medium, large, gpu) is
also an Airflow pool of its name: the installation's cluster policy puts the profile's tasks in it, so that no
more of its pods run at once than the namespace's quota was sized for.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, task

PROFILES = "/opt/airflow/pod_templates"

with DAG(dag_id="task_pod_profiles", schedule=None, start_date=datetime.datetime(2025, 1, 1), catchup=False):

    @task(executor_config={"pod_template_file": f"{PROFILES}/small.yaml"})
    def light() -> str:
        return "small"

    @task(executor_config={"pod_template_file": f"{PROFILES}/large.yaml"})
    def heavy() -> str:
        return "large"

    light() >> heavy()
