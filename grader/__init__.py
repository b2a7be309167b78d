"""grader: the instructor's side of the course. Nothing here ever runs in a student's kernel.

``course_utils/`` is the library a student's notebook imports; ``grader/`` is what grades those
notebooks and must stay out of a student's reach:

- ``grader.sandbox``: bubblewrap sandboxes for every kernel or process that runs student code;
- ``grader.grade_class``: the class command (``python -m grader.grade_class <assignment>``);
- ``grader.trusted``: trusted checks: hidden inputs, independent references, judges, and the
  nbgrader preprocessor that puts their verdict in the gradebook;
- ``grader.in_sandbox``: the only grader code that is ever placed inside a sandbox (it calls the
  student's functions and writes their results as plain data; it holds no reference or answer);
- ``grader.student_edition``: writes the student-facing repository (no ``source/``, no
  ``grader/``, no hidden tests, no solutions).

See ``grader/README.md`` for the threat model and what each layer stops.
"""
