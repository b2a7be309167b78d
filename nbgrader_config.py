"""nbgrader configuration for the RNN course (nbgrader 0.9.6).

The course root is this folder: source/ (instructor notebooks), release/ (generated from source/
by `nbgrader generate_assignment`, committed), submitted/, autograded/, feedback/ and
gradebook.db (git-ignored). See README.md, "For instructors".
"""

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.course_id = "rnn-course"

# Per-cell limit while validating and autograding. Under NBGRADER_EXECUTION the lessons shorten
# training to a few seconds, so the slowest instructor cell takes far less than this; an infinite
# loop in a submission costs at most this long, then the cell scores 0 and later cells still run.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# Start-up of a kernel that imports torch takes a few seconds on 2 CPUs; leave room on a busy box.
c.Execute.startup_timeout = 120

# A student who deleted a grade cell gets it back (and graded) instead of an unscored notebook.
c.OverwriteCells.add_missing_cells = True

# Any stderr in a grade cell scores it 0. Python warnings raised by an otherwise correct solution
# (say a deprecation warning from torch) are harmless: drop stderr outputs that are warnings.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(^|\n)[^\n]*:\d+: [A-Za-z]*Warning: "

# Keep gigantic student output from bloating the gradebook and feedback.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Every kernel that runs a submission while autograding runs in a bubblewrap sandbox (see
# grader/sandbox/): `nbgrader autograde`, the formgrader's autograde button and the class command
# (python -m grader.grade_class). It sees the Python environment, course_utils and the corpus
# read-only and a scratch copy of the notebook's folder read-write; nothing of the course, no
# network; limits on memory, processes, file size and CPU time. Install bubblewrap first
# (bash scripts/ensure_bwrap.sh). RNN_COURSE_UNSAFE_NO_SANDBOX=1 grades without it (logged as
# UNSANDBOXED). `nbgrader validate` and the students' Validate button are not sandboxed: they run
# a student's own code on the student's own machine, which usually has no user namespaces.
c.Autograde.autograde_preprocessors = [
    "grader.sandbox.nbgrader.SandboxedExecute",
    # Trusted checks (grader/trusted/), right after execution: each autograded test cell is
    # re-checked outside the student's kernel (fresh sandbox, secret inputs, independent
    # references); a failed check adds a "Trusted check: ..." error output (the cell scores 0),
    # and a disagreement with the kernel flags the notebook for a human.
    "grader.trusted.nbgrader_plugin.TrustedChecks",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback never shows hidden tests: generate_feedback's own list has no ClearHiddenTests; hidden
# regions are cut from the test cells, and error outputs of grade cells keep only
# "Error: message" (a traceback would quote the hidden lines it ran).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "grader.trusted.nbgrader_plugin.HideTestTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
