"""``python -m grader.grade_class <assignment>``: see :mod:`grader.grade_class`."""

import sys

from grader.grade_class.cli import main

sys.exit(main())
