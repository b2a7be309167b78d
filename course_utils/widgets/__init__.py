"""Slider builders for the lessons, one module per topic.

The logic of every widget is a plain function (testable without a browser); the builder only wires
ipywidgets to it. Callbacks never train a model: they read precomputed results or run one cheap
forward pass, so that a slider answers within a fraction of a second.
"""
