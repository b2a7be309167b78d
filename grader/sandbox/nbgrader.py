"""nbgrader's Execute preprocessor with sandboxed kernels, for ``c.Autograde``.

``nbgrader_config.py`` puts :class:`SandboxedExecute` in place of ``Execute`` in
``c.Autograde.autograde_preprocessors``: ``nbgrader autograde``, the formgrader's autograde
button and the class command then run every submission in a sandboxed kernel
(:class:`grader.sandbox.kernel.SandboxedKernelManager`). ``nbgrader validate`` (and a student's
Validate button) uses nbgrader's own ``Execute`` and stays unsandboxed: students' machines and
Binder usually have no user namespaces, and there a student's code only runs as the student.

Every ``c.Execute.*`` setting (``timeout``, ``startup_timeout``, ...) applies to it too: traitlets
reads a class's configuration under each of its base classes' names.
"""

from __future__ import annotations

from nbgrader.preprocessors import Execute

from grader.sandbox.bwrap import check_available
from grader.sandbox.kernel import SandboxedKernelManager, unsafe_no_sandbox

SANDBOXED_EXECUTE = "grader.sandbox.nbgrader.SandboxedExecute"


class SandboxedExecute(Execute):
    """``Execute`` whose kernels run in a bubblewrap sandbox (or, with
    ``RNN_COURSE_UNSAFE_NO_SANDBOX=1``, ordinary kernels, logged as UNSANDBOXED)."""

    def __init__(self, *args, **kwargs):
        # Execute.__init__ sets kernel_manager_class through a keyword argument, which beats
        # configuration: set ours the same way.
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        if unsafe_no_sandbox():
            self.log.warning("UNSANDBOXED: grading this notebook without a sandbox")
        else:
            check_available()  # SandboxUnavailable, with what to install, before any kernel
        return super().preprocess(nb, resources, km)


def sandboxed_preprocessors(preprocessors=None) -> list:
    """``preprocessors`` (a ``c.Autograde.autograde_preprocessors`` value; ``None``: nbgrader's
    default) with nbgrader's ``Execute`` replaced by :class:`SandboxedExecute`, so that a course
    config that forgot the sandbox still gets it. Other entries are kept, in order."""
    if not preprocessors:
        from nbgrader.converters import Autograde

        preprocessors = Autograde.class_traits()["autograde_preprocessors"].default()
    names = {"nbgrader.preprocessors.Execute", "nbgrader.preprocessors.execute.Execute"}
    out = [SANDBOXED_EXECUTE if pp is Execute or pp in names else pp for pp in preprocessors]
    if SANDBOXED_EXECUTE not in out and SandboxedExecute not in out:
        raise ValueError(
            "c.Autograde.autograde_preprocessors has no Execute step to sandbox: "
            f"{preprocessors!r}; put {SANDBOXED_EXECUTE} first"
        )
    return out
