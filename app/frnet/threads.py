"""numpy's BLAS thread cap, applied where frnet's stages are built (the library's own guard).

Without a cap, OpenBLAS starts one spinning worker thread per core for the small per-face matrix
products of the reconstruct stage; next to the decode, detect and encode threads that made it about
25× slower (measured for the CLI, which sets ``OPENBLAS_NUM_THREADS=1`` before numpy loads). A
library user has usually imported numpy already, when that variable no longer counts, so
:func:`cap_blas_threads` sets the limit at run time through ``threadpoolctl``; the
:class:`~frnet.pipeline.Pipeline` calls it when it builds its stages. A thread count the user chose
(``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` in the environment) is left as
it is.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

BLAS_THREADS = 1
USER_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_lock = threading.Lock()
_limiter = None  # the threadpoolctl limiter that keeps the cap (kept alive so it is not undone)


def cap_blas_threads(threads: int = BLAS_THREADS) -> bool:
    """Limit numpy's BLAS to ``threads`` threads for this process, once, unless the user chose a
    count through the environment. Returns whether a cap is in effect by frnet's doing."""
    global _limiter
    if any(os.environ.get(name) for name in USER_VARIABLES):
        return False
    with _lock:
        if _limiter is not None:
            return True
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # a dependency of frnet; an unusual install still works, only slower
            log.debug("threadpoolctl is missing; numpy's BLAS threads are not capped")
            return False
        _limiter = threadpool_limits(limits=threads, user_api="blas")
        return True
