"""Palettes that outlive one image: palette files (:mod:`kmimg.palettes.files`), one palette
fitted across many images (:mod:`kmimg.palettes.shared`), and the swatch picture of a palette
(:mod:`kmimg.render.swatch`). Mapping an image onto a given palette is
:func:`kmimg.core.quantize.quantize_onto`; fixed-centre k-means for kept colours is
:func:`kmimg.colorfit.fit_palette` with ``fixed`` colours."""
