"""Where the index lives: a folder (default) or PostgreSQL with pgvector (``RAG_STORE``)."""
