/* kmimg._dither: the error-diffusion kernel of kmimg's dithering (kmimg/dither.py), in C.
 *
 * One function, diffuse(), maps the pixels of an 8-bit image to a palette with serpentine
 * Floyd-Steinberg error diffusion in a working space. For RGB pixels (3 channels) that space is
 * the sRGB values through a 3x3 matrix (kmimg/dither.py passes one that weights luma more than
 * chroma), so that distances there are the perceptual weighting of the mapping while the
 * diffused error stays a linear map of the sRGB error. For RGBA pixels (4 channels, images with
 * translucent pixels) it is kmimg's alpha-aware space (kmimg/translucency.py): the composite
 * over mid-grey, g = c A + 127.5 (1 - A), through the same matrix, and the alpha times a weight;
 * the error diffused is the error of both, so that soft shadows and glows are dithered too.
 *
 * Per pixel, the diffused error is scaled by the strength (from the level), ignored when it is
 * too small to see, clamped so that the target stays near the colour cube (libimagequant's
 * rule: shrink the colour part of the error vector instead of clipping channels; the alpha is
 * clipped to [0, 255]) and damped when it is large (no lone bright specks). The nearest palette
 * entry is the lowest index among those at the smallest squared distance, found exactly through
 * a grid of cells over the working box, each cell listing the entries that can be nearest to
 * some point of it (built when the diffusion first reaches the cell). Pixels marked in `keep`
 * (fully transparent ones) keep their index and neither take nor give error.
 *
 * kmimg/dither.py holds a pure-Python reference of this loop (reference_diffuse) that the tests
 * compare with it: every product and sum here is in double precision in the same order as
 * there, and the build turns off FMA contraction (setup.py).
 *
 * The loop is serial by nature (each pixel's error depends on all before it), so the result
 * does not depend on the number of threads; the GIL is released while it runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_buffers.h"

#define MAX_ENTRIES 256
#define MAX_DIM 4
#define MAX_GRID 32
#define CELLS 65536 /* 32^3 cells for RGB, 16^4 for RGBA */

typedef struct {
    double rows[MAX_ENTRIES][MAX_DIM]; /* the entries in the working space */
    int m, dim, grid;
    double grid_lo[MAX_DIM], grid_step[MAX_DIM], grid_scale[MAX_DIM];
    /* squared distance along one axis from each entry to each grid slab, and to its far side */
    double axis_near[MAX_DIM][MAX_GRID][MAX_ENTRIES], axis_far[MAX_DIM][MAX_GRID][MAX_ENTRIES];
    int32_t cell_start[CELLS]; /* offset of each cell's list in lists; -1 until built */
    int16_t cell_count[CELLS];
    uint8_t *lists; /* the cells' lists, in the order the diffusion first reached them */
    size_t used, capacity;
} Palette;

typedef struct {
    double strength; /* share of the diffused error that is applied */
    double min_err2; /* below: no dithering */
    double max_err2; /* above: damping */
    double lo[MAX_DIM], hi[MAX_DIM];
} Rules;

typedef struct {
    const uint8_t *pixels, *keep, *ids;
    uint8_t *out;
    Py_ssize_t width, height;
    int channels;
} Image;

/* The working space: the matrix (3x3, row-major) and, for RGBA, the weight of alpha. */
typedef struct {
    const double *matrix;
    double alpha_weight;
    int dim;
} Space;

/* A colour in the working space: RGB through the matrix; RGBA as its composite over mid-grey
 * through the matrix, then alpha times its weight. */
static void to_work(const Space *s, const uint8_t *px, double *out) {
    double v[3] = {(double)px[0], (double)px[1], (double)px[2]};
    if (s->dim == 4) {
        double opacity = (double)px[3] / 255.0, rest = (255.0 - (double)px[3]) * (127.5 / 255.0);
        for (int c = 0; c < 3; c++) v[c] = v[c] * opacity + rest;
    }
    const double *m = s->matrix;
    for (int r = 0; r < 3; r++) out[r] = (m[3 * r] * v[0] + m[3 * r + 1] * v[1]) + m[3 * r + 2] * v[2];
    if (s->dim == 4) out[3] = (double)px[3] * s->alpha_weight;
}

/* The products of to_work for every byte value: product[c][v][r] = matrix[r][c] * v, so that an
 * RGB pixel costs three sums of table entries (the same doubles, added in the same order). */
typedef struct {
    double product[3][256][3];
} Products;

static void products_init(const double *matrix, Products *t) {
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            for (int r = 0; r < 3; r++) t->product[c][v][r] = matrix[3 * r + c] * (double)v;
}

static void to_work_fast(const Products *t, const Space *s, const uint8_t *px, double *out) {
    if (s->dim == 4) {
        to_work(s, px, out);
        return;
    }
    const double *a = t->product[0][px[0]], *b = t->product[1][px[1]], *c = t->product[2][px[2]];
    for (int r = 0; r < 3; r++) out[r] = (a[r] + b[r]) + c[r];
}

static double dist2(const double *a, const double *b, int dim) {
    double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    double sum = (d0 * d0 + d1 * d1) + d2 * d2;
    if (dim == 4) {
        double d3 = a[3] - b[3];
        sum += d3 * d3;
    }
    return sum;
}

static int palette_init(const Space *s, const uint8_t *colors, int m, const Rules *r, Palette *pal) {
    int dim = s->dim;
    pal->m = m;
    pal->dim = dim;
    pal->grid = dim == 4 ? 16 : 32;
    for (int j = 0; j < m; j++) to_work(s, colors + dim * j, pal->rows[j]);
    for (int c = 0; c < dim; c++) {
        pal->grid_lo[c] = r->lo[c];
        pal->grid_step[c] = (r->hi[c] - r->lo[c]) / pal->grid;
        pal->grid_scale[c] = pal->grid / (r->hi[c] - r->lo[c]);
        /* each slab a little wider than its share: cell_of's rounding cannot matter */
        double slack = pal->grid_step[c] * 1e-6;
        for (int g = 0; g < pal->grid; g++) {
            double a = pal->grid_lo[c] + pal->grid_step[c] * g - slack, b = a + pal->grid_step[c] + 2 * slack;
            for (int j = 0; j < m; j++) {
                double v = pal->rows[j][c];
                double out = v < a ? a - v : (v > b ? v - b : 0.0);
                double far = v - a > b - v ? v - a : b - v;
                pal->axis_near[c][g][j] = out * out;
                pal->axis_far[c][g][j] = far * far;
            }
        }
    }
    for (int cell = 0; cell < CELLS; cell++) pal->cell_start[cell] = -1;
    pal->capacity = (size_t)1 << 16;
    pal->used = 0;
    pal->lists = malloc(pal->capacity);
    return pal->lists == NULL ? -1 : 0;
}

/* The sum over the axes of a per-axis table at a cell's slabs (in the order of the 3-D sum). */
static double axes_sum(const Palette *pal, double (*axis)[MAX_GRID][MAX_ENTRIES], const int *g, int j) {
    double sum = (axis[0][g[0]][j] + axis[1][g[1]][j]) + axis[2][g[2]][j];
    if (pal->dim == 4) sum += axis[3][g[3]][j];
    return sum;
}

/* The slab of each axis of a cell (the first axis most significant). */
static void cell_slabs(const Palette *pal, int cell, int *g) {
    for (int c = pal->dim - 1; c >= 0; c--) {
        g[c] = cell % pal->grid;
        cell /= pal->grid;
    }
}

/* The entries that can be nearest to some point of a cell, in ascending order: those whose
 * distance to the cell is at most the smallest distance within which one entry covers all of
 * it (with a relative margin far above rounding). Returns -1 when out of memory (the caller
 * then scans every entry: the same answer, slower). */
static int cell_build(Palette *pal, int cell) {
    int m = pal->m, g[MAX_DIM], count = 0;
    double near[MAX_ENTRIES], cover = INFINITY;
    cell_slabs(pal, cell, g);
    for (int j = 0; j < m; j++) {
        near[j] = axes_sum(pal, pal->axis_near, g, j);
        double far = axes_sum(pal, pal->axis_far, g, j);
        if (far < cover) cover = far;
    }
    if (pal->used + (size_t)m > pal->capacity) {
        uint8_t *grown = realloc(pal->lists, 2 * pal->capacity);
        if (grown == NULL) return -1;
        pal->lists = grown;
        pal->capacity *= 2;
    }
    uint8_t *list = pal->lists + pal->used;
    for (int j = 0; j < m; j++)
        if (near[j] <= cover * (1.0 + 1e-9) + 1e-9) list[count++] = (uint8_t)j;
    pal->cell_start[cell] = (int32_t)pal->used;
    pal->cell_count[cell] = (int16_t)count;
    pal->used += (size_t)count;
    return 0;
}

/* The grid cell of q, or -1 outside the grid. */
static int cell_of(const Palette *pal, const double *q) {
    int cell = 0;
    for (int c = 0; c < pal->dim; c++) {
        double t = (q[c] - pal->grid_lo[c]) * pal->grid_scale[c];
        if (!(t >= 0.0 && t < pal->grid)) return -1;
        cell = cell * pal->grid + (int)t;
    }
    return cell;
}

/* Lowest index among the entries nearest to q: the first of equals in ascending order. */
static int nearest(Palette *pal, const double *q) {
    int cell = cell_of(pal, q), count = pal->m;
    const uint8_t *list = NULL;
    if (cell >= 0 && (pal->cell_start[cell] >= 0 || cell_build(pal, cell) == 0)) {
        list = pal->lists + pal->cell_start[cell];
        count = pal->cell_count[cell];
    }
    double best = INFINITY;
    int best_index = 0;
    for (int p = 0; p < count; p++) {
        int j = list != NULL ? list[p] : p;
        double d = dist2(pal->rows[j], q, pal->dim);
        if (d < best) best = d, best_index = j;
    }
    return best_index;
}

/* The pixel plus its share of the diffused error, clamped and damped (libimagequant's rules):
 * the colour part shrunk as a whole to stay in the box, the alpha clipped to its range. */
static void dithered_target(const Rules *r, int dim, const double *px, const double *err, double *out) {
    double s[MAX_DIM] = {err[0] * r->strength, err[1] * r->strength, err[2] * r->strength, 0.0};
    double e2 = (s[0] * s[0] + s[1] * s[1]) + s[2] * s[2];
    if (dim == 4) {
        s[3] = err[3] * r->strength;
        e2 += s[3] * s[3];
    }
    if (e2 < r->min_err2) {
        for (int c = 0; c < dim; c++) out[c] = px[c];
        return;
    }
    double ratio = 1.0;
    for (int c = 0; c < 3; c++) {
        double v = px[c] + s[c];
        if (v > r->hi[c]) {
            double q = (r->hi[c] - px[c]) / s[c];
            if (q < ratio) ratio = q;
        } else if (v < r->lo[c]) {
            double q = (r->lo[c] - px[c]) / s[c];
            if (q < ratio) ratio = q;
        }
    }
    if (ratio < 0.0) ratio = 0.0;
    if (e2 > r->max_err2) ratio *= 0.8;
    for (int c = 0; c < 3; c++) out[c] = px[c] + s[c] * ratio;
    if (dim == 4) {
        double a = px[3] + s[3];
        out[3] = a > r->hi[3] ? r->hi[3] : (a < r->lo[3] ? r->lo[3] : a);
    }
}

/* Floyd-Steinberg weights 7, 3, 5, 1 (/16), the direction of each row alternating. */
static void spread(double *here, double *below, int forward, int dim, const double *e) {
    double *ahead = forward ? here + dim : here - dim;
    double *below_ahead = forward ? below + dim : below - dim, *below_behind = forward ? below - dim : below + dim;
    for (int c = 0; c < dim; c++) {
        ahead[c] += e[c] * (7.0 / 16.0);
        below_ahead[c] += e[c] * (1.0 / 16.0);
        below[c] += e[c] * (5.0 / 16.0);
        below_behind[c] += e[c] * (3.0 / 16.0);
    }
}

static void diffuse_rows(const Products *t, const Space *s, Palette *pal, const Rules *r, const Image *im,
                         double *err) {
    int dim = s->dim;
    Py_ssize_t w = im->width, ew = w + 2;
    double *this_row = err, *next_row = err + dim * ew;
    int forward = 1;
    for (Py_ssize_t y = 0; y < im->height; y++) {
        memset(next_row, 0, sizeof(double) * (size_t)dim * (size_t)ew);
        for (Py_ssize_t step = 0; step < w; step++) {
            Py_ssize_t x = forward ? step : w - 1 - step;
            Py_ssize_t i = y * w + x;
            if (im->keep != NULL && im->keep[i]) continue; /* kept: its index, no error */
            double px[MAX_DIM], target[MAX_DIM], e[MAX_DIM];
            to_work_fast(t, s, im->pixels + im->channels * i, px);
            dithered_target(r, dim, px, this_row + dim * (x + 1), target);
            int j = nearest(pal, target);
            im->out[i] = im->ids[j];
            for (int c = 0; c < dim; c++) e[c] = target[c] - pal->rows[j][c];
            double e2 = (e[0] * e[0] + e[1] * e[1]) + e[2] * e[2];
            if (dim == 4) e2 += e[3] * e[3];
            if (e2 > r->max_err2)
                for (int c = 0; c < dim; c++) e[c] *= 0.75;
            spread(this_row + dim * (x + 1), next_row + dim * (x + 1), forward, dim, e);
        }
        double *swap = this_row;
        this_row = next_row;
        next_row = swap;
        forward = !forward;
    }
}

/* The call's arrays, in the order of diffuse()'s arguments. */
enum { PIXELS, KEEP, PALETTE, IDS, MATRIX, OUT, ARRAYS };

static int run(const Buf *b, int has_keep, const Image *shape, int m, const Space *s, const Rules *r) {
    double *err = calloc((size_t)(2 * s->dim * (shape->width + 2)), sizeof(double));
    Palette *pal = malloc(sizeof(Palette));
    Products *t = malloc(sizeof(Products));
    int failed = err == NULL || pal == NULL || t == NULL;
    if (!failed) {
        Image im = {(const uint8_t *)b[PIXELS].view.buf,
                    has_keep ? (const uint8_t *)b[KEEP].view.buf : NULL,
                    (const uint8_t *)b[IDS].view.buf,
                    (uint8_t *)b[OUT].view.buf,
                    shape->width,
                    shape->height,
                    shape->channels};
        Py_BEGIN_ALLOW_THREADS
        products_init(s->matrix, t);
        failed = palette_init(s, (const uint8_t *)b[PALETTE].view.buf, m, r, pal) != 0;
        if (!failed) diffuse_rows(t, s, pal, r, &im, err);
        Py_END_ALLOW_THREADS
        free(pal->lists);
    }
    free(err);
    free(pal);
    free(t);
    return failed ? -1 : 0;
}

/* diffuse(pixels, keep, width, height, channels, palette, ids, m, matrix, alpha_weight, strength,
 *         min_err2, max_err2, (lo0, lo1, lo2, lo3), (hi0, hi1, hi2, hi3), out); keep (nonzero:
 * leave the pixel) may be None. pixels hold width x height pixels of `channels` bytes (3: RGB,
 * 4: RGBA, diffused in the alpha-aware space), palette m entries of as many bytes, out 1 byte
 * a pixel, keep 1 byte a pixel, ids m bytes, matrix 9 doubles; the fourth bounds are alpha's in
 * the working space (unused for RGB). */
static PyObject *diffuse(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *pixels, *keep, *palette, *ids, *matrix, *out;
    Image shape = {0};
    int m;
    Rules r;
    Space s;
    if (!PyArg_ParseTuple(args, "OOnniOOiOdddd(dddd)(dddd)O:diffuse", &pixels, &keep, &shape.width, &shape.height,
                          &shape.channels, &palette, &ids, &m, &matrix, &s.alpha_weight, &r.strength, &r.min_err2,
                          &r.max_err2, &r.lo[0], &r.lo[1], &r.lo[2], &r.lo[3], &r.hi[0], &r.hi[1], &r.hi[2],
                          &r.hi[3], &out))
        return NULL;
    Py_ssize_t width = shape.width, height = shape.height;
    if (width < 1 || height < 1 || height > PY_SSIZE_T_MAX / width || m < 1 || m > MAX_ENTRIES ||
        (shape.channels != 3 && shape.channels != 4)) {
        PyErr_SetString(PyExc_ValueError, "diffuse: bad size, channels or palette length");
        return NULL;
    }
    s.dim = shape.channels;
    for (int c = 0; c < s.dim; c++)
        if (!(r.hi[c] > r.lo[c])) {
            PyErr_SetString(PyExc_ValueError, "diffuse: empty working box");
            return NULL;
        }
    Py_ssize_t n = width * height;
    int has_keep = keep != Py_None;
    Buf b[ARRAYS] = {{0}};
    if (buffer_get(pixels, &b[PIXELS], 0, s.dim, n, "pixels") < 0 ||
        (has_keep && buffer_get(keep, &b[KEEP], 0, 1, n, "keep") < 0) ||
        buffer_get(palette, &b[PALETTE], 0, s.dim, m, "palette") < 0 || buffer_get(ids, &b[IDS], 0, 1, m, "ids") < 0 ||
        buffer_get(matrix, &b[MATRIX], 0, (Py_ssize_t)sizeof(double), 9, "matrix") < 0 ||
        buffer_get(out, &b[OUT], 1, 1, n, "out") < 0)
        return buffers_done(b, ARRAYS, NULL);
    s.matrix = (const double *)b[MATRIX].view.buf;
    int failed = run(b, has_keep, &shape, m, &s, &r) != 0;
    return buffers_done(b, ARRAYS, failed ? PyErr_NoMemory() : Py_NewRef(Py_None));
}

static PyMethodDef methods[] = {
    {"diffuse", diffuse, METH_VARARGS, "Serpentine error diffusion of an RGB or RGBA image to a palette."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dither", "kmimg's error-diffusion kernel.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__dither(void) { return PyModule_Create(&module); }
