"""What a trusted check is: the contract between the lesson checks and the harness.

A *lesson check module* (``grader/trusted/lessons/<assignment>.py``) says, for every autograded
test cell of the lesson, which calls to make on the student's code and how to judge what comes
back. The *harness* (``grader/trusted/harness.py``) does the rest:

1. it asks the lesson for its checks, with a fresh secret seed, in the trusted process (no student
   code has run there, and none ever will);
2. it writes the calls' inputs as plain data (JSON + safetensors) into the scratch folder of a
   fresh sandboxed process (``grader/in_sandbox/runner.py``), which first disables the
   callables in ``DISABLE``, then runs the lesson's setup cells (from ``source/``, trusted) and the
   submission's own solution cells (test cells left out), then makes the calls;
3. it reads the results back as plain data (never a pickle of a student object) and hands each
   check's ``judge`` a list of :class:`Outcome`, one per call, in order.

A judge returns ``None`` when the student's code is right, else a message for the student and the
instructor (``"rnn_step: wrong values for a (5, 7) batch: did you forget torch.tanh?"``). Judges
compute their references here, with code of their own: never with ``course_utils``, never with
anything the sandbox sent back.

Values that cross into the sandbox (``Call.args``, ``Call.kwargs``): ``None``, ``bool``, ``int``,
``float``, ``str``, ``list``/``tuple``/``dict`` (str keys) of values, a plain ``torch.Tensor``,
and the trusted-object recipes below (:class:`Param`, :class:`Attached`, :class:`Model`,
:class:`Optimizer`, :class:`Generator`, :class:`VocabOf`).

Values that come back (``Outcome.value``, ``Outcome.after``): the same plain kinds (tuples come
back as tuples; ``set``/``frozenset`` too, and dict keys may be None/bool/int/float/str/tuple;
a numpy scalar comes back as the Python number, a subclass of int/float/str/list/tuple/dict as
its base type read through the base class), a plain ``torch.Tensor`` (a subclass is stripped,
``Outcome.notes`` says so) with its autograd facts in :class:`TensorInfo` when asked,
:class:`ModuleData` for an ``nn.Module``, and :class:`Unsupported` for anything else (its type
name only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

# --------------------------------------------------------------------------- into the sandbox


@dataclass(frozen=True)
class Param:
    """A leaf tensor with ``requires_grad=True`` and, if given, ``.grad`` set to a copy of
    ``grad``: built inside the sandbox (for ``clip_gradients(params, theta)``, say)."""

    data: torch.Tensor
    grad: torch.Tensor | None = None


@dataclass(frozen=True)
class Attached:
    """``tensor``, but still attached to an autograd graph: inside the sandbox it is
    ``tensor + 0 * leaf`` for a hidden leaf with ``requires_grad=True``. After the call the
    outcome reports whether any gradient reached that leaf (``Outcome.leaf_grads``): a state
    that was detached before use receives none. "Reached" means: the call's own ``backward()``
    set the leaf's ``.grad``, or the returned tensors' graph leads back to the leaf."""

    tensor: torch.Tensor


@dataclass(frozen=True)
class Model:
    """A trusted model built inside the sandbox: ``cls(**kwargs)`` then
    ``load_state_dict(state_dict)``. ``cls`` is a dotted name from the harness's allow-list
    (``torch.nn.RNN``, ``torch.nn.Linear``, ``course_utils.rnn.CharRNN``,
    ``course_utils.rnn.CharRNNScratch``, ``course_utils.rnn.RNNScratch``)."""

    cls: str
    kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    train: bool = True


@dataclass(frozen=True)
class Optimizer:
    """``torch.optim.<name>(<parameters of the Model at position arg>, **kwargs)``, built
    inside the sandbox after the model it optimises."""

    name: str  # "SGD" or "Adam"
    arg: int  # position in Call.args of the Model whose parameters it optimises
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Generator:
    """``torch.Generator().manual_seed(seed)``, built inside the sandbox."""

    seed: int


@dataclass(frozen=True)
class VocabOf:
    """``course_utils.data.Vocab`` built inside the sandbox from these tokens
    (``Vocab(tokens)``; pass the token list of a short text, or the corpus's own tokens)."""

    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    """One call to make in the sandbox, after the submission's cells have run.

    ``fn``: the name of a global of the submission (a function, usually). With ``read=True`` the
    global's value itself is the outcome and nothing is called (``answer_hidden_state``).
    ``swap``: globals to replace, for this call only, by trusted code (``{"rnn_step": "def
    rnn_step(X, H, W_xh, W_hh, b_h): ..."}``), so that ``rnn_forward`` is graded with a right
    step; calls with a swap run after every call without one.
    ``observe``: positions of ``args`` whose state after the call is returned in
    ``Outcome.after`` (a Param as ``{"data": Tensor, "grad": Tensor | None}``, a list of Params
    as a list of such dicts, a Model as its ModuleData, a tensor changed in place as a tensor).
    ``swap`` code runs with ``torch`` and ``math`` already in its globals.
    ``count_ops``: count the torch functions the call used (``Outcome.ops``, name -> count), by a
    ``TorchFunctionMode`` around the call: ``{"matmul": 1, "cat": 2, ...}``; names lose their
    dunders (``X @ W`` counts as ``matmul``, ``a + b`` as ``add``, ``Tensor.tanh`` as ``tanh``).
    Each call runs with ``torch.manual_seed`` (and ``random.seed``) set from the check's seed.
    ``tensor_info``: return :class:`TensorInfo` for tensors in the value.
    ``timeout``: seconds for this call.
    """

    fn: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    read: bool = False
    swap: dict[str, str] = field(default_factory=dict)
    observe: tuple[int, ...] = ()
    count_ops: bool = False
    tensor_info: bool = False
    timeout: float = 20.0


# --------------------------------------------------------------------------- out of the sandbox


@dataclass(frozen=True)
class TensorInfo:
    """Autograd facts of a returned tensor (with ``Call.tensor_info``)."""

    requires_grad: bool
    has_grad_fn: bool
    is_leaf: bool


@dataclass(frozen=True)
class ModuleData:
    """A returned ``nn.Module``: never the object, only its description.

    ``config``: for ``torch.nn.RNN``/``GRU``/``LSTM``: input_size, hidden_size, num_layers,
    nonlinearity, bias, batch_first, dropout, bidirectional; for other modules, public int / float
    / bool / str attributes. ``grads``: parameter name -> its ``.grad`` (absent when None)."""

    class_name: str  # "torch.nn.modules.rnn.RNN"
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor]
    training: bool


@dataclass(frozen=True)
class Unsupported:
    """A returned value that cannot cross the boundary as data (a function, a generator...)."""

    type_name: str


@dataclass(frozen=True)
class Outcome:
    """What one :class:`Call` gave.

    ``error``: ``None`` if the call returned, else ``"TypeError: message"`` (the exception's type
    and text, or ``"Timeout: ..."``, or ``"NameError: rnn_step is not defined"`` when the
    submission never defined it); ``value`` is then ``None``.
    ``after``: position -> the observed argument's state after the call (``Call.observe``).
    ``leaf_grads``: position -> True when a gradient reached the hidden leaf of an
    :class:`Attached` argument.
    ``ops``: torch function name -> count (``Call.count_ops``).
    ``info``: path -> TensorInfo for returned tensors (``Call.tensor_info``); the path of the
    value itself is ``""``, of a tuple element ``"1"``, of a nested one ``"1.0"``.
    ``notes``: things the harness noticed on the way (``"returned a torch.Tensor subclass
    MyTensor; compared as a plain tensor"``), shown to the instructor.
    """

    value: Any = None
    error: str | None = None
    after: dict[int, Any] = field(default_factory=dict)
    leaf_grads: dict[int, bool] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    info: dict[str, TensorInfo] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


Judge = Callable[[list[Outcome]], "str | None"]


@dataclass(frozen=True)
class Check:
    """The trusted check of one autograded test cell (``grade_id``): the calls, then the judge."""

    grade_id: str
    calls: list[Call]
    judge: Judge


# --------------------------------------------------------------------------- a lesson module
#
# grader/trusted/lessons/<assignment>.py defines:
#
#   NOTEBOOK = "hidden_state.ipynb"          # the notebook of source/<assignment>/ it checks
#   SETUP_CELLS = 1                           # the first N code cells of the SOURCE notebook run
#                                             # before the student's solution cells (imports)
#   DISABLE = ("course_utils.generate.sample_text", ...)
#       # (an entry may also be a pair ("dotted.name", "predict") naming the exercise for the
#       # stub's message; a plain name says "write this exercise yourself")
#       # dotted names of callables that would answer an exercise: replaced, in the sandbox and
#       # before any student code runs, by a function that raises
#       # RuntimeError("<name> is not available while your work is checked: write <exercise>
#       # yourself")
#   def checks(seed: int) -> list[Check]: ...
#       # one Check per autograded test cell of the notebook; inputs drawn from
#       # torch.Generator().manual_seed(seed); references computed in the judges.
