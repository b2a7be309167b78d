"""Inside the sandbox: disable the callables that would answer an exercise, run notebook cells.

``disable`` replaces each dotted name (``course_utils.generate.sample_text``,
``torch.nn.utils.clip_grad_norm_``, ``course_utils.rnn.RNNScratch.forward``) by a stub that
raises ``RuntimeError("<name> is not available while your work is checked: write <exercise>
yourself")``, in its own module or class and in every loaded module of the same package that
holds the same object under any name (``torch.nn.utils.clip_grad_norm_`` is also
``torch.nn.utils.clip_grad.clip_grad_norm_``). ``restore_stubs`` puts them back (a submission
that reloaded a module gets the stub again before each call).
"""

from __future__ import annotations

import sys
import time

if __package__:
    from . import calls
else:  # inside the sandbox, beside runner.py
    import calls


def _stub(name: str, exercise: str):
    message = f"{name} is not available while your work is checked: write {exercise} yourself"

    def disabled(*args, **kwargs):
        raise RuntimeError(message)

    disabled.__name__ = disabled.__qualname__ = name.rsplit(".", 1)[-1]
    disabled.__doc__ = message
    return disabled


class Disabled:
    """The stubs in place: (owner, attribute, stub) for every place a disabled object was."""

    def __init__(self):
        self.places: list[tuple[object, str, object]] = []
        self.missing: list[str] = []

    def restore_stubs(self) -> None:
        for owner, attr, stub in self.places:
            try:
                if getattr(owner, attr, None) is not stub:
                    setattr(owner, attr, stub)
            except (AttributeError, TypeError):
                pass


def disable(entries) -> Disabled:
    """Stub every entry: a dotted name, or [dotted name, exercise] for the message."""
    done = Disabled()
    for entry in entries:
        name, exercise = (entry, "this exercise") if type(entry) is str else entry
        owner_name, _, attr = name.rpartition(".")
        try:
            owner = calls.resolve(owner_name)
            original = getattr(owner, attr)
        except (ImportError, AttributeError):
            done.missing.append(name)
            continue
        stub = _stub(name, exercise)
        setattr(owner, attr, stub)
        done.places.append((owner, attr, stub))
        top = name.split(".", 1)[0]
        for mod_name, module in list(sys.modules.items()):
            if module is None or not (mod_name == top or mod_name.startswith(top + ".")):
                continue
            namespace = getattr(module, "__dict__", None)
            if type(namespace) is not dict:
                continue
            for key, value in list(namespace.items()):
                if value is original:
                    namespace[key] = stub
                    done.places.append((module, key, stub))
    return done


def run_cells(shell, cells: list[str], kind: str, limit: float, log: list) -> None:
    """Run each cell in ``shell`` (an IPython InteractiveShell), each within ``limit`` seconds;
    append {"kind", "index", "error", "seconds"} to ``log`` as it starts and ends (the runner's
    watchdog reads the last entry). A failing cell does not stop the later ones."""
    for index, source in enumerate(cells):
        entry = {
            "kind": kind,
            "index": index,
            "error": None,
            "seconds": None,
            "started": time.monotonic(),
            "limit": limit,
        }
        log.append(entry)
        try:
            with calls.time_limit(limit, f"{kind} cell {index + 1}"):
                result = shell.run_cell(source, store_history=False, silent=False)
            err = result.error_before_exec or result.error_in_exec
        except BaseException as caught:  # noqa: BLE001 - a timeout outside IPython's own catch
            if type(caught) is KeyboardInterrupt:
                raise
            err = caught
        entry["seconds"] = round(time.monotonic() - entry["started"], 3)
        entry["error"] = None if err is None else calls.error_text(err)
