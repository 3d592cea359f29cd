"""Palettes that outlive one image: palette files (:mod:`kmimg.palette.files`), one palette
fitted across many images (:mod:`kmimg.palette.shared`), and the swatch picture of a palette
(:mod:`kmimg.render.swatch`). Mapping an image onto a given palette is
:func:`kmimg.quantize.quantize_onto`; fixed-centre k-means for kept colours is
:func:`kmimg.cluster.fit_palette` with ``fixed`` colours."""
