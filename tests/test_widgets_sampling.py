"""Lesson 3's temperature slider: sampled text, next-character bars (HTML), the widget wiring.

A tiny untrained ``CharRNN`` stands in for the trained model: the slider's logic does not care
how good the model is. ``predict_fn`` (the student's ``predict`` in the lesson) is exercised
with an independent reference written here and with a spy.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.data import load_corpus
from course_utils.generate import sample_text
from course_utils.rnn import CharRNN
from course_utils.widgets import sampling as ws

_, VOCAB = load_corpus(max_tokens=10)
V = len(VOCAB)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CharRNN(V, num_hiddens=16).eval()


def reference_predict(prefix, num_preds, model, vocab, temperature=0.0, generator=None):
    """Independent predict: warm up on the prefix, then one character at a time."""
    with torch.no_grad():
        logits, state = model(torch.tensor([vocab.encode(prefix)]), None)
        out = []
        for _ in range(num_preds):
            last = logits[0, -1]
            if temperature == 0:
                idx = int(last.argmax())
            else:
                probs = torch.softmax(last / temperature, dim=0)
                idx = int(torch.multinomial(probs, 1, generator=generator))
            out.append(vocab.idx_to_token[idx])
            logits, state = model(torch.tensor([[idx]]), state)
    return prefix + "".join(out)


# --------------------------------------------------------------------------- sampler_view


def test_view_holds_prefix_plus_text_and_a_distribution(model):
    view = ws.sampler_view(model, VOCAB, "the time ", 1.0, num_chars=40, seed=3)
    assert view["text"].startswith("the time ")
    assert len(view["text"]) == len("the time ") + 40
    assert view["tokens"] == list(VOCAB.idx_to_token)
    assert view["probs"].shape == (V,)
    assert math.isclose(float(view["probs"].sum()), 1.0, rel_tol=1e-5)
    assert 1.0 <= view["choices"] <= V + 1e-6
    assert (view["temperature"], view["seed"], view["prefix"]) == (1.0, 3, "the time ")


def test_same_seed_same_text_and_another_seed_another_text(model):
    a = ws.sampler_view(model, VOCAB, "it was ", 1.0, num_chars=60, seed=1)["text"]
    b = ws.sampler_view(model, VOCAB, "it was ", 1.0, num_chars=60, seed=1)["text"]
    c = ws.sampler_view(model, VOCAB, "it was ", 1.0, num_chars=60, seed=2)["text"]
    assert a == b
    assert a != c


def test_default_generation_is_course_utils_sample_text(model):
    view = ws.sampler_view(model, VOCAB, "the ", 0.7, num_chars=50, seed=5)
    want = sample_text(model, VOCAB, "the ", 50, 0.7, generator=torch.Generator().manual_seed(5))
    assert view["text"] == want


def test_temperature_zero_is_greedy_and_puts_all_mass_on_the_argmax(model):
    view = ws.sampler_view(model, VOCAB, "the ", 0.0, num_chars=30, seed=0)
    assert view["text"] == reference_predict("the ", 30, model, VOCAB, 0.0)
    assert float(view["probs"].max()) == 1.0
    assert view["choices"] == pytest.approx(1.0)
    with torch.no_grad():
        logits, _ = model(torch.tensor([VOCAB.encode("the ")]), None)
    assert int(view["probs"].argmax()) == int(logits[0, -1].argmax())


def test_distribution_is_softmax_of_logits_over_temperature(model):
    with torch.no_grad():
        logits, _ = model(torch.tensor([VOCAB.encode("a machine")]), None)
    last = logits[0, -1].double()
    for T in (0.25, 1.0, 2.0):
        view = ws.sampler_view(model, VOCAB, "a machine", T, num_chars=0)
        torch.testing.assert_close(view["probs"].double(), torch.softmax(last / T, 0), rtol=1e-5,
                                   atol=1e-7)  # fmt: skip
        p = torch.softmax(last / T, 0)
        assert view["choices"] == pytest.approx(math.exp(float(-(p * p.log()).sum())), rel=1e-5)


def test_higher_temperature_means_more_choices(model):
    choices = [
        ws.sampler_view(model, VOCAB, "the ", T, num_chars=0)["choices"] for T in (0.2, 1.0, 3.0)
    ]
    assert choices[0] < choices[1] < choices[2]


def test_predict_fn_is_called_with_the_settings_and_its_text_is_shown(model):
    calls = []

    def spy(prefix, num_preds, model_, vocab, temperature=0.0, generator=None):
        calls.append((prefix, num_preds, model_, vocab, temperature, generator))
        return reference_predict(prefix, num_preds, model_, vocab, temperature, generator)

    view = ws.sampler_view(model, VOCAB, "i ", 0.8, num_chars=25, seed=4, predict_fn=spy)
    assert len(calls) == 1
    prefix, n, m, vocab, T, gen = calls[0]
    assert (prefix, n, m, vocab, T) == ("i ", 25, model, VOCAB, 0.8)
    assert isinstance(gen, torch.Generator)
    want = reference_predict("i ", 25, model, VOCAB, 0.8, torch.Generator().manual_seed(4))
    assert view["text"] == want


def test_predict_fn_that_returns_no_str_is_reported(model):
    with pytest.raises(TypeError, match="predict_fn must return a str"):
        ws.sampler_view(model, VOCAB, "i ", 1.0, predict_fn=lambda *a, **k: None)
    with pytest.raises(TypeError, match="predict_fn must be a function"):
        ws.sampler_view(model, VOCAB, "i ", 1.0, predict_fn="predict")


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(temperature=-0.5), ValueError, "temperature"),
        (dict(temperature=float("nan")), ValueError, "temperature"),
        (dict(temperature="hot"), TypeError, "temperature"),
        (dict(prefix=""), ValueError, "prefix"),
        (dict(prefix="The Time"), ValueError, "vocabulary"),
        (dict(num_chars=-1), ValueError, "num_chars"),
        (dict(num_chars=10_000), ValueError, "num_chars"),
        (dict(num_chars=2.5), TypeError, "num_chars"),
        (dict(seed=-1), ValueError, "seed"),
    ],
)
def test_bad_settings_raise_a_clear_error(model, kwargs, exc, words):
    args = dict(prefix="the ", temperature=1.0, num_chars=10, seed=0) | kwargs
    with pytest.raises(exc, match=words):
        ws.sampler_view(model, VOCAB, **args)


def test_a_model_that_is_not_a_module_is_rejected():
    with pytest.raises(TypeError, match="model must be"):
        ws.sampler_view(lambda X, s: (X, s), VOCAB, "the ", 1.0)


def test_the_model_is_not_trained_and_its_mode_is_kept(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    try:
        ws.sampler_view(model, VOCAB, "the ", 1.0, num_chars=20)
        assert model.training
    finally:
        model.eval()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# --------------------------------------------------------------------------- plot and widget


def test_html_shows_the_text_and_one_bar_per_token_with_the_chosen_one_in_red(model):
    view = ws.sampler_view(model, VOCAB, "the ", 1.0, num_chars=30, seed=0)
    page = ws.render_html(view)
    assert f"<b>the </b>{view['text'][4:]}" in page
    assert page.count("width:12px;height:") == V
    assert page.count("#d62728") == 1  # the character the sample took
    chosen = view["text"][4]
    label = "␣" if chosen == " " else chosen
    assert f'title="{label}: {float(view["probs"][VOCAB[chosen]]):.3f}"' in page
    assert "τ = 1.00" in page and "␣" in page


def test_html_escapes_whatever_predict_fn_returns(model):
    def noisy(prefix, num_preds, model_, vocab, temperature=0.0, generator=None):
        return prefix + "<script>x</script>"

    view = ws.sampler_view(model, VOCAB, "the ", 1.0, num_chars=5, predict_fn=noisy)
    page = ws.render_html(view)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_bars_scale_with_the_probabilities():
    view = {
        "prefix": "a",
        "text": "ab",
        "tokens": ["a", "b", "c"],
        "probs": torch.tensor([0.25, 0.75, 0.0]),
        "choices": 1.8,
        "temperature": 0.5,
    }
    page = ws.render_html(view, height_px=100)
    assert "height:33px" in page and "height:100px" in page and "height:0px" in page


def test_widget_moves_rerun_the_callback(model):
    box = ws.temperature_sampler(model, VOCAB, num_chars=30)
    slider, menu, seed = box.children[:3]
    assert (slider.min, slider.max, slider.value) == (0.0, 2.0, 1.0)
    assert box.result["temperature"] == 1.0
    for T in (0.0, 2.0, 0.55):
        slider.value = T
        assert box.result["temperature"] == pytest.approx(T)
        assert box.result["text"].startswith(menu.value)
    first = box.result["text"]
    seed.value = 7
    assert box.result["seed"] == 7 and box.result["text"] != first
    menu.value = menu.options[-1]
    assert box.result["prefix"] == menu.options[-1]
    assert box.result["text"].startswith(menu.options[-1])


def test_widget_uses_predict_fn(model):
    calls = []

    def spy(prefix, num_preds, model_, vocab, temperature=0.0, generator=None):
        calls.append(temperature)
        return reference_predict(prefix, num_preds, model_, vocab, temperature, generator)

    box = ws.temperature_sampler(model, VOCAB, predict_fn=spy, num_chars=20)
    box.children[0].value = 0.3
    assert calls == [1.0, 0.3]


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(prefixes=[]), ValueError, "prefixes"),
        (dict(prefixes=["the ", ""]), ValueError, "prefixes"),
        (dict(max_temperature=0), ValueError, "max_temperature"),
        (dict(num_chars=100_000), ValueError, "num_chars"),
    ],
)
def test_widget_rejects_bad_settings_when_built(model, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        ws.temperature_sampler(model, VOCAB, **kwargs)
