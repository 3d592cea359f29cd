"""Pictures and pages made from results, as arrays or text (never files): the compress-report
contact sheet (:mod:`~kmimg.render.sheet`), the classify montage (:mod:`~kmimg.render.montage`)
and the self-contained HTML report (:mod:`~kmimg.render.html`)."""
