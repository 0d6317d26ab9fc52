"""Gradio web UI for ``rag``: chat with cited, highlighted sources and article management.

``ui.app.build_app(settings)`` builds the app; ``ui.app.launch(settings)`` serves it.

The parts: ``app`` composes the ``chat`` and ``articles`` tabs; ``render`` turns turns into
escaped HTML; ``turn`` holds one question and its answer; ``uploads`` checks and stores added
files; ``examples`` picks example questions; ``texts`` holds every label in Indonesian and
English; ``static/`` holds the CSS and JS. Documents come from ``rag.library``, answers from
``rag.answer``: nothing here answers questions.
"""
