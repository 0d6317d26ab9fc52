"""Gradio web UI for ``rag``: chat with cited, highlighted sources and article management.

``ui.app.build_app(settings)`` builds the app; ``ui.app.launch(settings)`` serves it.
"""
