"""Every restoration method other than ABAIR itself, behind one interface.

:class:`Method` is the base class of every method (restore a float (N, 3, H, W) batch in [0, 1]);
:func:`register` makes a new one available by name. Heavy dependencies are imported inside the
modules that need them, never here.
"""

from .base import Method, MethodInfo, RestoreContext
from .registry import register, unregister

__all__ = ["Method", "MethodInfo", "RestoreContext", "register", "unregister"]
