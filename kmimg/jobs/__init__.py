"""The batch room: a command's per-file work over many inputs, in this process, on worker
processes (:mod:`~kmimg.jobs.local`) or on a Dask cluster (:mod:`~kmimg.jobs.dask_pool`),
behind one :class:`~kmimg.jobs.pool.Pool` interface and one loop (:func:`kmimg.jobs.batch.run_batch`).

Tasks and records are in :mod:`~kmimg.jobs.tasks` (the input record :class:`~kmimg.jobs.tasks.ImageInput`
loads itself from a path or from bytes); each command's per-file work and its result records
are in :mod:`~kmimg.jobs.quantize`, :mod:`~kmimg.jobs.segment`, :mod:`~kmimg.jobs.report`,
:mod:`~kmimg.jobs.classify` and :mod:`~kmimg.jobs.palette` (with the shared-palette flow);
:mod:`~kmimg.jobs.paths` expands inputs and names outputs. The command line
(:mod:`kmimg.cli`) and the library's ``kmimg.*_files`` functions both run batches through it.
Nothing here prints: what a batch tells goes to a :class:`~kmimg.jobs.batch.Listener`.
"""
