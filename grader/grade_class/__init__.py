"""Autograde a whole class with nbgrader, in parallel, and believe every score.

Usage (from the course root, the folder holding ``nbgrader_config.py``)::

    python -m grader.grade_class lesson1_hidden_state            # all cores
    python -m grader.grade_class lesson1_hidden_state --jobs 1   # one worker, sequential
    python -m grader.grade_class lesson1_hidden_state --root /srv/course --timeout 900
    python -m grader.grade_class lesson1_hidden_state --scheduler tcp://10.0.0.5:8786  # a cluster

Before it: ``nbgrader generate_assignment <assignment>`` (the gradebook must know the assignment)
and ``nbgrader collect <assignment>`` (or copy the submissions to
``submitted/<student>/<assignment>/``).

What it does:

0. A control first: the instructor's own notebook (``source/<assignment>``) is autograded like a
   student's. Unless it gets every autograded point, the run stops and writes nothing: a broken
   environment (the corpus missing, a package missing) would otherwise cost every student points.
   ``--no-check`` skips it.
1. Checks each folder ``submitted/<student>/<assignment>/`` first: an empty folder or one without
   any notebook scores 0 (nbgrader's rule for a missing notebook); a notebook that is not JSON is
   not scored and flagged for manual review; a single renamed notebook (``hidden_state-Copy1.ipynb``
   for ``hidden_state.ipynb``) is graded under its expected name, and the report says so. Code
   that rebinds library functions (``torch.allclose = ...``, ``builtins.abs = ...``,
   ``setattr(math, ...)``, ``vars(module)[...]``, ``sys.modules``) is graded as usual but
   reported, and the notebook marked ``flagged`` in the gradebook, for a human to look at.
2. Autogrades the rest on Dask (:mod:`grader.grade_class.cluster`): ``--scheduler ADDRESS``
   grades on an existing cluster (``dask scheduler`` and ``dask worker`` processes on other
   machines: they need the course's Python environment and bubblewrap, no shared filesystem);
   without it an in-process ``distributed.LocalCluster`` of ``--jobs`` single-threaded worker
   processes (default: the CPUs this process may use), started while the command plans the
   class, without Dask's interactive extras (profiler, work stealing, memory manager: see
   :data:`grader.grade_class.cluster.QUIET_LOCAL_CLUSTER`). Each worker gets the course as data once
   (``nbgrader_config.py``, ``source/<assignment>`` and a private SQLite gradebook holding only
   the assignment, :mod:`grader.grade_class.bundle`) and each submission as bytes; it runs
   nbgrader's own ``autograde`` and ``generate_feedback`` through ``nbgrader.apps.NbGraderAPI``
   in a private course folder and sends back the scores, comments, flags, statuses, the
   autograded notebooks and the feedback HTML as data. Only this process writes the course's
   gradebook, whatever ``CourseDirectory.db_url`` is (SQLite by default; PostgreSQL and any other
   URL nbgrader accepts). A worker killed mid-grading loses nothing: Dask reruns its student
   elsewhere (grading writes nothing but its result, so a rerun is harmless). A worker that
   cannot start a sandbox refuses the work (the command reports it and sends the student to the
   other workers; with none left it stops). ``--engine pool`` uses the older local process pool
   instead of Dask (same results).
3. Limits each submission's wall-clock time (``--timeout``, default 600 s): a submission that
   overruns (a kernel that ignores interrupts, say) has its worker's whole process tree killed
   (kernel included), is reported as not scored, and the worker is restarted for the next student.
   Inside that limit nbgrader's own per-cell timeout (``c.Execute.timeout``) applies: a cell that
   loops forever is interrupted, scores 0, and later cells still run.
4. Merges every result into the course's real gradebook through ``nbgrader.api.Gradebook``: one
   submission per student, each grade's ``auto_score`` / ``needs_manual_grade`` and each comment
   set from this run, so rerunning the command never duplicates anything and a student graded
   twice keeps one consistent record; the submission's timestamp, its late penalty, and the
   trusted check's flags and manual comments are carried. ``autograded/<student>/<assignment>``
   and ``feedback/<student>/<assignment>`` are written from the bytes the worker sent back (a
   student whose grading failed loses any stale copy from an earlier run).
5. Generates feedback with nbgrader's ``generate_feedback`` in the same worker, right after each
   student is graded (``--no-feedback`` skips it).
6. Resumes an interrupted run: while it runs, ``.grade_class/<assignment>.json`` in the course
   records each merged student with a checksum of the submission graded; a rerun after an
   interrupted run skips the students merged since whose submissions have not changed
   (``--restart`` grades everyone). A run that finishes removes the file.
7. Writes ``grades/<assignment>.csv`` (``--csv``): one row per student, one column per graded
   cell, the total, the status and the message.

Progress: on a terminal a live bar (students done / total, failures, students per minute, ETA),
with students who need a human printed above it; elsewhere one line per student with the same
figures. It ends with a per-student, per-exercise table. A student's code failing, or their
kernel dying ("student bob: kernel died (os._exit? a crash?) - not scored, needs manual
review"), is reported but is not a failure of the command: the exit status is 0. It exits 1
only when grading itself failed: no ``nbgrader_config.py``, no gradebook or an unwritable one,
the assignment not generated, no submissions, the instructor's notebook losing points, a worker
process that cannot start, a sandbox that cannot start (here, or on every Dask worker), or a
Dask scheduler out of reach.

Statuses (the ``status`` column of the CSV):

    graded            autograded normally
    renamed           autograded; the notebook had been renamed and was graded under its real name
    missing-notebook  autograded; some notebook of the assignment was missing and scored 0
    no-notebook       no notebook in the folder: scored 0
    empty             empty submission folder: scored 0
    not-a-notebook    a notebook is not readable JSON: not scored, needs manual review
    kernel-died       the kernel died (os._exit, abort, segfault): not scored, needs manual review
    timeout           over the wall-clock limit (killed), or a cell past the per-cell limit whose
                      kernel ignored the interrupt: not scored, needs manual review
    error             nbgrader failed on this submission: not scored, needs manual review
    memory-limit      hit a limit of the sandbox (below): the cells that hit it score 0, the
    processes-limit   rest is graded; if the kernel died of it or stopped answering, the
    file-size-limit   notebook is not scored (needs manual review) and the message says so
    cpu-time-limit

The sandbox: every kernel a worker starts runs in bubblewrap (:mod:`grader.sandbox`), whatever
the course's config says: it sees the Python environment, ``course_utils`` and the corpus
read-only and a scratch copy of the submission's folder read-write; not the course (gradebook,
``source/``, other students), not the home folder, not the host's ``/tmp``, no network; limits
on memory, processes, file size and CPU time; nothing it starts outlives it. If bubblewrap cannot
start, the command stops before grading with what to install (exit 1).
``--unsafe-no-sandbox`` grades with ordinary kernels instead, and then every progress line, table
line and CSV row says ``UNSANDBOXED``.
"""

from grader.grade_class.cli import main
from grader.grade_class.command import CHECK_ID, grade_class
from grader.grade_class.course import Course, list_students, open_course
from grader.grade_class.plan import Plan, plan_submission, tamper_lines
from grader.grade_class.report import describe, format_table, write_csv
from grader.grade_class.results import NOT_SCORED, STATUS_TEXT, GradingError, StudentResult

__all__ = [
    "CHECK_ID",
    "NOT_SCORED",
    "STATUS_TEXT",
    "Course",
    "GradingError",
    "Plan",
    "StudentResult",
    "describe",
    "format_table",
    "grade_class",
    "list_students",
    "main",
    "open_course",
    "plan_submission",
    "tamper_lines",
    "write_csv",
]
