"""Grading on Dask: an existing cluster (``--scheduler ADDRESS``) or an in-process LocalCluster.

The coordinator (this process) sends one task per submission, each carrying the course bundle
(:func:`grader.grade_class.remote.grade_submission`); results come back as data and ``finish``
merges them here, in this thread, one at a time. Dask reschedules a task whose worker died
(SIGKILL, a lost machine) on another worker; a worker that cannot sandbox raises
:class:`SandboxRefused`, which is reported and the student sent to the other workers; a task the
scheduler lost or cancelled is sent again (three times at most).
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import fields

from grader.grade_class.bundle import make_bundle, submission_files
from grader.grade_class.results import GradingError, SandboxRefused, StudentResult

_FIELDS = {f.name for f in fields(StudentResult)}

# The in-process LocalCluster's settings. Dask's defaults suit interactive data work: a 20 ms
# event-loop tick, a 10 ms statistical profiler in each worker, a 500 ms system monitor, work
# stealing and the nanny's memory manager. Idle, those cost 3.7 CPU-seconds per 30 s on 2 workers
# (12% of a core); grading needs none of them (each task is one submission; each kernel's memory
# is capped by its sandbox), and with them off an idle cluster costs 0.44 CPU-seconds per 30 s.
# Spawned workers inherit these through their nanny. A cluster of your own (``--scheduler``)
# keeps whatever its workers were started with.
QUIET_LOCAL_CLUSTER = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "2s",
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.terminate": False,
    "distributed.scheduler.work-stealing": False,
}


def _result(data: dict) -> StudentResult:
    return StudentResult(**{k: v for k, v in data.items() if k in _FIELDS})


def _client(scheduler: str | None, jobs: int):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=60), None
        except OSError as err:
            raise GradingError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
    import dask

    with dask.config.set(QUIET_LOCAL_CLUSTER):
        cluster = LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # a worker's last heartbeat at close is not news
        )
        return Client(cluster), cluster


def _import_the_grading_code() -> None:
    """Run on each worker of an early cluster: what its first task would import (nbgrader...)."""
    import grader.grade_class.remote  # noqa: F401
    import grader.grade_class.workers  # noqa: F401


class EarlyCluster:
    """The in-process LocalCluster, started in a thread when the command starts.

    The workers spawn and import the grading code while this process imports nbgrader, reads
    the submissions and plans the class: without it the first seconds of a run use one core
    and every worker imports nbgrader only when its first student arrives. ``take()`` waits for
    the cluster and hands it over; ``close()`` shuts down one that nobody took (nothing to grade,
    or the command stopped before grading)."""

    def __init__(self, jobs: int):
        self._jobs = jobs
        self._started = None  # (client, cluster)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="early-cluster", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._started = _client(None, self._jobs)
            self._started[0].run(_import_the_grading_code)
        except BaseException as err:  # re-raised by take()
            self._error = err

    def take(self):
        """(client, cluster), once the cluster is up; raises what starting it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._started is None:
            raise RuntimeError("the early cluster was already taken or closed")
        started, self._started = self._started, None
        return started

    def close(self) -> None:
        self._thread.join()
        if self._started is not None:
            client, cluster = self._started
            self._started = None
            client.close()
            cluster.close()


def run_dask(
    course, todo, jobs, timeout, finish, unsafe, scheduler=None, echo=print, early=None
) -> None:
    """Grade the plans in ``todo`` on Dask; ``finish(result)`` runs here for each one.

    ``early``: an :class:`EarlyCluster` to grade on instead of starting a LocalCluster here."""
    from distributed import as_completed

    from course_utils import available_cpus

    client, cluster = early.take() if early is not None else _client(scheduler, jobs)
    try:
        workers = list(client.scheduler_info()["workers"])
        if not workers:
            client.wait_for_workers(1, timeout=120)
            workers = list(client.scheduler_info()["workers"])
        echo(
            f"dask: {'scheduler ' + scheduler if scheduler else 'local cluster'}, "
            f"{len(workers)} worker(s)"
        )
        omp = None if scheduler else max(1, available_cpus() // max(1, jobs))
        # The bundle (a few hundred kB) goes with each task: a worker that joins or dies later
        # needs nothing scattered beforehand.
        bundle = make_bundle(course)
        refused: set[str] = set()
        plans = {}
        tries = itertools.count()
        lost: dict[str, int] = {}  # student -> tasks cancelled under it (its worker died...)

        def submit(plan, allowed=None, priority=0):
            job = {
                "student": plan.student,
                "files": submission_files(course, plan),
                "feedback": plan.feedback,
                "timeout": timeout,
                "unsafe": unsafe,
                "omp_threads": omp,
            }
            from grader.grade_class.remote import grade_submission

            fut = client.submit(
                grade_submission,
                bundle,
                job,
                pure=False,
                key=f"grade-{course.assignment}-{plan.student}-{next(tries)}",
                workers=allowed,
                priority=priority,
            )
            plans[fut.key] = plan
            return fut

        # The first plan is the instructor's control when there is one: it goes first.
        pending = as_completed([submit(p, priority=int(i == 0)) for i, p in enumerate(todo)])
        for fut in pending:
            plan = plans.pop(fut.key)
            if fut.status == "cancelled" and lost.get(plan.student, 0) < 3:
                lost[plan.student] = lost.get(plan.student, 0) + 1
                echo(f"grade_class: student {plan.student}'s task was lost; sending it again")
                pending.add(submit(plan))
                continue
            err = fut.exception() if fut.status == "error" else None
            if isinstance(err, SandboxRefused):
                echo(f"grade_class: {err}")
                refused.add(str(err).split()[1])
                alive = [w for w in client.scheduler_info()["workers"] if w not in refused]
                if not alive:
                    raise GradingError(
                        "no worker can start a sandbox; nothing more was graded. Install "
                        "bubblewrap on the workers (bash scripts/ensure_bwrap.sh)."
                    )
                pending.add(submit(plan, alive))
                continue
            if fut.status == "cancelled":
                result = StudentResult(plan.student, "error", "its grading task was lost 3 times")
            elif err is not None:
                result = StudentResult(plan.student, "error", f"{type(err).__name__}: {err}")
            else:
                result = _result(fut.result())
            fut.release()
            finish(result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
