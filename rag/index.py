"""The index folder's former module name: ``rag.index`` is :mod:`rag.store.folder.index` itself
(the same module object, so ``rag.index.Index``, ``rag.index.DocInfo`` and patches of its
functions keep working)."""

import sys

from rag.store.folder import index as _folder_index

sys.modules[__name__] = _folder_index
