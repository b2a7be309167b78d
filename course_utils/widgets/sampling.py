"""Lesson 3's temperature slider: text sampled at a temperature, and the next-character bars.

Dividing the logits by a temperature (温度) τ before the softmax sharpens (τ < 1) or flattens
(τ > 1) a language model's (语言模型) distribution of the next character; τ = 0 always takes the
most likely one (greedy decoding). Lesson 3 writes the temperature τ because T counts time steps
there. The slider shows both sides of that at once:

* a continuation of a prefix drawn at τ (fixed seed, so the same settings give the same text,
  and a seed slider that draws another one);
* the distribution of the character right after the prefix at τ, as bars (plain HTML, no
  image to render), with the number of characters the model is "hesitating between" (exp of its
  entropy).

Where the generation comes from: writing ``predict`` is one of lesson 3's graded exercises, and no
course_utils function may answer an exercise. So ``sampler_view`` and ``temperature_sampler``
take an optional ``predict_fn`` argument: the notebook passes the student's own ``predict``
(so the slider runs the student's code), and without it ``course_utils.generate.sample_text``
generates. The distribution comes from ``course_utils.generate.next_char_distribution``.

Every callback only runs the trained model forward (no training: the model is an argument):
one pass over the prefix for the bars and ``num_chars`` one-character steps for the text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .. import generate

__all__ = [
    "DEFAULT_PREFIXES",
    "render_html",
    "sampler_view",
    "temperature_sampler",
]

# Prefixes the slider offers (all lowercase letters and spaces: the course's vocabulary).
DEFAULT_PREFIXES = ("the time traveller ", "it was a ", "the machine ", "i ")

PredictFn = Callable[..., str]

_MAX_CHARS = 400  # longer samples would make the slider sluggish


def _check_args(model, vocab, prefix, temperature, num_chars, seed) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"sampler_view: model must be a trained language model (an nn.Module with "
            f"`logits, state = model(X, state)`), got {type(model).__name__}."
        )
    if not hasattr(vocab, "token_to_idx") or not hasattr(vocab, "idx_to_token"):
        raise TypeError(
            f"sampler_view: vocab must be the model's Vocab (course_utils.data.Vocab), got "
            f"{type(vocab).__name__}."
        )
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"sampler_view: prefix must be a non-empty str, got {prefix!r}.")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(
            f"sampler_view: temperature must be a number >= 0, got {type(temperature).__name__}."
        )
    if not temperature >= 0 or math.isinf(temperature):
        raise ValueError(
            f"sampler_view: temperature must be a finite number >= 0 (0 = greedy), got "
            f"{temperature!r}."
        )
    if isinstance(num_chars, bool) or not isinstance(num_chars, int):
        raise TypeError(f"sampler_view: num_chars must be an int, got {type(num_chars).__name__}.")
    if not 0 <= num_chars <= _MAX_CHARS:
        raise ValueError(
            f"sampler_view: num_chars must lie in 0 .. {_MAX_CHARS} (keep the slider quick), "
            f"got {num_chars}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"sampler_view: seed must be an int >= 0, got {seed!r}.")


def sampler_view(
    model: nn.Module,
    vocab,
    prefix: str,
    temperature: float,
    num_chars: int = 100,
    seed: int = 0,
    predict_fn: PredictFn | None = None,
) -> dict:
    """Everything the slider shows for one setting: a sampled continuation and the next-char bars.

    Args:
        model: a trained language model, ``logits, state = model(X, state)`` with X
            (batch, num_steps) long and logits (batch, num_steps, vocab_size).
        vocab: the model's ``Vocab``.
        prefix: non-empty text of characters in the vocabulary (lowercase letters and spaces).
        temperature: >= 0; 0 is greedy decoding, 1 the model's own distribution.
        num_chars: characters to generate after the prefix (0 .. 400).
        seed: seeds a fresh ``torch.Generator`` for this sample: same settings, same text.
        predict_fn: optional ``predict_fn(prefix, num_chars, model, vocab, temperature=...,
            generator=...) -> str`` returning ``prefix + generated`` (lesson 3's ``predict``);
            None uses ``course_utils.generate.sample_text``.

    Returns:
        dict with ``text`` (str, the prefix and its continuation), ``tokens`` (list of
        vocab_size str), ``probs`` (float tensor (vocab_size,), the distribution of the
        character after the prefix at this temperature, summing to 1), ``choices`` (float,
        exp of that distribution's entropy: how many characters the model hesitates between),
        ``temperature``, ``seed`` and ``prefix``.
    """
    _check_args(model, vocab, prefix, temperature, num_chars, seed)
    T = float(temperature)
    tokens, probs = generate.next_char_distribution(model, vocab, prefix, T)  # (vocab,)
    generator = torch.Generator().manual_seed(seed)
    if predict_fn is None:
        text = generate.sample_text(model, vocab, prefix, num_chars, T, generator=generator)
    else:
        if not callable(predict_fn):
            raise TypeError(
                f"sampler_view: predict_fn must be a function like predict(prefix, num_preds, "
                f"model, vocab, temperature, generator), got {predict_fn!r}."
            )
        with torch.no_grad():
            text = predict_fn(prefix, num_chars, model, vocab, temperature=T, generator=generator)
        if not isinstance(text, str):
            raise TypeError(
                f"sampler_view: predict_fn must return a str (prefix + generated text), got "
                f"{type(text).__name__}."
            )
    p = probs.double()
    entropy = float(-(p[p > 0] * p[p > 0].log()).sum())  # nats
    return {
        "text": text,
        "tokens": tokens,
        "probs": probs,
        "choices": math.exp(entropy),
        "temperature": T,
        "seed": seed,
        "prefix": prefix,
    }


def _bar_colour(token: str, chosen: str | None) -> str:
    return "#d62728" if token == chosen else "#1f77b4"


def render_html(view: dict, height_px: int = 110) -> str:
    """HTML for one view (from ``sampler_view``): the sampled text, then the next-character bars.

    The prefix is bold and the generated text follows; the bars show ``view["probs"]`` in
    vocabulary order (the space as '␣'), the character the sample really took in red. Plain
    HTML and CSS, no image: it renders in well under a millisecond, which keeps the slider quick.
    """
    prefix, text = view["prefix"], view["text"]
    chosen = text[len(prefix)] if len(text) > len(prefix) and text.startswith(prefix) else None
    shown = (
        f"<b>{html.escape(prefix)}</b>{html.escape(text[len(prefix) :])}"
        if text.startswith(prefix)
        else html.escape(text)
    )
    probs = [float(p) for p in view["probs"]]
    top = max(max(probs), 1e-12)
    columns = []
    for token, p in zip(view["tokens"], probs, strict=True):
        label = "␣" if token == " " else ("?" if token == "<unk>" else token)
        bar = max(1, round(height_px * p / top)) if p > 0 else 0
        columns.append(
            f'<div title="{html.escape(label)}: {p:.3f}" style="display:flex;'
            f'flex-direction:column;justify-content:flex-end;align-items:center;width:18px">'
            f'<div style="width:12px;height:{bar}px;background:{_bar_colour(token, chosen)}">'
            f'</div><div style="font-family:monospace;font-size:11px">{html.escape(label)}'
            "</div></div>"
        )
    title = (
        f"next character after <code>{html.escape(repr(prefix))}</code> at "
        f"τ = {view['temperature']:.2f}: about {view['choices']:.1f} likely choices "
        f"(the most likely has p = {top:.2f}; red: the one the sample took)"
    )
    return (
        f'<div style="font-family:monospace;white-space:pre-wrap;max-width:760px;'
        f'margin-bottom:6px">{shown}</div>'
        f'<div style="font-size:12px;margin-bottom:2px">{title}</div>'
        f'<div style="display:flex;align-items:flex-end;height:{height_px + 18}px">'
        + "".join(columns)
        + "</div>"
    )


def temperature_sampler(
    model: nn.Module,
    vocab,
    prefixes: Sequence[str] = DEFAULT_PREFIXES,
    num_chars: int = 100,
    predict_fn: PredictFn | None = None,
    temperature: float = 1.0,
    max_temperature: float = 2.0,
):
    """A temperature slider (0 .. ``max_temperature``), a prefix menu and a seed slider.

    Each move shows a continuation of the chosen prefix drawn at that temperature (see
    ``sampler_view``; ``predict_fn`` is the student's ``predict`` in the lesson) and the
    distribution of the next character as bars (``render_html``). The model is only run
    forward: train it before.

    Returns:
        The ``ipywidgets.interactive`` box (display it, or let the notebook show it as the cell's
        value); ``box.children[:3]`` are the temperature slider, the prefix dropdown and the seed
        slider; ``box.result`` holds the latest view dict (see ``sampler_view``).
    """
    import ipywidgets as widgets
    from IPython.display import HTML, display

    prefixes = list(prefixes)
    if not prefixes or not all(isinstance(p, str) and p for p in prefixes):
        raise ValueError(
            f"temperature_sampler: prefixes must be a non-empty list of non-empty str, got "
            f"{prefixes!r}."
        )
    if not isinstance(max_temperature, (int, float)) or not max_temperature > 0:
        raise ValueError(
            f"temperature_sampler: max_temperature must be a number > 0, got {max_temperature!r}."
        )
    # fail now, in the cell that builds the slider, rather than inside the first callback
    _check_args(model, vocab, prefixes[0], temperature, num_chars, 0)

    slider = widgets.FloatSlider(
        value=float(temperature),
        min=0.0,
        max=float(max_temperature),
        step=0.05,
        description="τ",
        continuous_update=False,
        readout_format=".2f",
    )
    menu = widgets.Dropdown(options=prefixes, value=prefixes[0], description="prefix")
    seed = widgets.IntSlider(value=0, min=0, max=20, description="seed", continuous_update=False)

    def show(T: float, prefix: str, seed: int) -> dict:
        view = sampler_view(model, vocab, prefix, T, num_chars, seed, predict_fn)
        display(HTML(render_html(view)))
        return view

    return widgets.interactive(show, T=slider, prefix=menu, seed=seed)  # draws the first view
