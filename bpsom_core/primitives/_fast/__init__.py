"""Speed machinery below the rules: the screened exact winner search, the thread
policy and the parallel launch.  Private: the public doors are
:func:`~bpsom_core.primitives.find_winners` and :func:`~bpsom_core.primitives.som_step`;
the rules these kernels apply live in :mod:`bpsom_core.primitives.rules`.
"""
