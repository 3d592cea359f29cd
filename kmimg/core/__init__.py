"""One core per command, pure (arrays and options in, a result dataclass out):
:mod:`~kmimg.core.quantize`, :mod:`~kmimg.core.segment`, :mod:`~kmimg.core.report` (compress-report)
and :mod:`~kmimg.core.classify`."""
