"""Every restoration method other than ABAIR itself, behind the :class:`baselines.base.Method` interface.

Heavy dependencies are imported inside the modules that need them, never here.
"""
