/* kmimg._dither: the error-diffusion kernel of kmimg's dithering (kmimg/dither.py), in C.
 *
 * One function, diffuse(), maps the pixels of an 8-bit RGB image to a palette with serpentine
 * Floyd-Steinberg error diffusion in a working space: the sRGB values through a 3x3 matrix
 * (kmimg/dither.py passes one that weights luma more than chroma), so that distances there are
 * the perceptual weighting of the mapping while the diffused error stays a linear map of the
 * sRGB error.
 *
 * Per pixel, the diffused error is scaled by the strength (from the level), ignored when it is
 * too small to see, clamped so that the target stays near the colour cube (libimagequant's
 * rule: shrink the whole error vector instead of clipping channels) and damped when it is
 * large (no lone bright specks). The nearest palette entry is the lowest index among those at
 * the smallest squared distance, found exactly through a grid of cells over the working box,
 * each cell listing the entries that can be nearest to some point of it (built when the
 * diffusion first reaches the cell).
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
#define GRID 32
#define CELLS (GRID * GRID * GRID)

typedef struct {
    double rows[MAX_ENTRIES][3]; /* the entries in the working space */
    int m;
    double grid_lo[3], grid_step[3], grid_scale[3];
    /* squared distance along one axis from each entry to each grid slab, and to its far side */
    double axis_near[3][GRID][MAX_ENTRIES], axis_far[3][GRID][MAX_ENTRIES];
    int32_t cell_start[CELLS]; /* offset of each cell's list in lists; -1 until built */
    int16_t cell_count[CELLS];
    uint8_t *lists; /* the cells' lists, in the order the diffusion first reached them */
    size_t used, capacity;
} Palette;

typedef struct {
    double strength; /* share of the diffused error that is applied */
    double min_err2; /* below: no dithering */
    double max_err2; /* above: damping */
    double lo[3], hi[3];
} Rules;

typedef struct {
    const uint8_t *rgb, *keep, *ids;
    uint8_t *out;
    Py_ssize_t width, height;
} Image;

/* A pixel in the working space: matrix (3x3, row-major) times its sRGB values. */
static void to_work(const double *matrix, const uint8_t *rgb, double *out) {
    double v[3] = {(double)rgb[0], (double)rgb[1], (double)rgb[2]};
    for (int r = 0; r < 3; r++)
        out[r] = (matrix[3 * r] * v[0] + matrix[3 * r + 1] * v[1]) + matrix[3 * r + 2] * v[2];
}

/* The products of to_work for every byte value: product[c][v][r] = matrix[r][c] * v, so that a
 * pixel costs three sums of table entries (the same doubles, added in the same order). */
typedef struct {
    double product[3][256][3];
} Products;

static void products_init(const double *matrix, Products *t) {
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            for (int r = 0; r < 3; r++) t->product[c][v][r] = matrix[3 * r + c] * (double)v;
}

static void to_work_fast(const Products *t, const uint8_t *rgb, double *out) {
    const double *a = t->product[0][rgb[0]], *b = t->product[1][rgb[1]], *c = t->product[2][rgb[2]];
    for (int r = 0; r < 3; r++) out[r] = (a[r] + b[r]) + c[r];
}

static double dist2(const double *a, const double *b) {
    double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return (d0 * d0 + d1 * d1) + d2 * d2;
}

static int palette_init(const double *matrix, const uint8_t *rgb, int m, const Rules *r, Palette *pal) {
    pal->m = m;
    for (int j = 0; j < m; j++) to_work(matrix, rgb + 3 * j, pal->rows[j]);
    for (int c = 0; c < 3; c++) {
        pal->grid_lo[c] = r->lo[c];
        pal->grid_step[c] = (r->hi[c] - r->lo[c]) / GRID;
        pal->grid_scale[c] = GRID / (r->hi[c] - r->lo[c]);
        /* each slab a little wider than its share: cell_of's rounding cannot matter */
        double slack = pal->grid_step[c] * 1e-6;
        for (int g = 0; g < GRID; g++) {
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

/* The entries that can be nearest to some point of a cell, in ascending order: those whose
 * distance to the cell is at most the smallest distance within which one entry covers all of
 * it (with a relative margin far above rounding). Returns -1 when out of memory (the caller
 * then scans every entry: the same answer, slower). */
static int cell_build(Palette *pal, int cell) {
    int m = pal->m, g[3] = {cell / (GRID * GRID), (cell / GRID) % GRID, cell % GRID}, count = 0;
    double near[MAX_ENTRIES], cover = INFINITY;
    for (int j = 0; j < m; j++) {
        near[j] = (pal->axis_near[0][g[0]][j] + pal->axis_near[1][g[1]][j]) + pal->axis_near[2][g[2]][j];
        double far = (pal->axis_far[0][g[0]][j] + pal->axis_far[1][g[1]][j]) + pal->axis_far[2][g[2]][j];
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
    int g[3];
    for (int c = 0; c < 3; c++) {
        double t = (q[c] - pal->grid_lo[c]) * pal->grid_scale[c];
        if (!(t >= 0.0 && t < GRID)) return -1;
        g[c] = (int)t;
    }
    return (g[0] * GRID + g[1]) * GRID + g[2];
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
        double d = dist2(pal->rows[j], q);
        if (d < best) best = d, best_index = j;
    }
    return best_index;
}

/* The pixel plus its share of the diffused error, clamped and damped (libimagequant's rules). */
static void dithered_target(const Rules *r, const double *px, const double *err, double *out) {
    double s[3] = {err[0] * r->strength, err[1] * r->strength, err[2] * r->strength};
    double e2 = (s[0] * s[0] + s[1] * s[1]) + s[2] * s[2];
    if (e2 < r->min_err2) {
        out[0] = px[0], out[1] = px[1], out[2] = px[2];
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
}

/* Floyd-Steinberg weights 7, 3, 5, 1 (/16), the direction of each row alternating. */
static void spread(double *here, double *below, int forward, const double *e) {
    double *ahead = forward ? here + 3 : here - 3;
    double *below_ahead = forward ? below + 3 : below - 3, *below_behind = forward ? below - 3 : below + 3;
    for (int c = 0; c < 3; c++) {
        ahead[c] += e[c] * (7.0 / 16.0);
        below_ahead[c] += e[c] * (1.0 / 16.0);
        below[c] += e[c] * (5.0 / 16.0);
        below_behind[c] += e[c] * (3.0 / 16.0);
    }
}

static void diffuse_rows(const Products *t, Palette *pal, const Rules *r, const Image *im, double *err) {
    Py_ssize_t w = im->width, ew = w + 2;
    double *this_row = err, *next_row = err + 3 * ew;
    int forward = 1;
    for (Py_ssize_t y = 0; y < im->height; y++) {
        memset(next_row, 0, sizeof(double) * 3 * (size_t)ew);
        for (Py_ssize_t step = 0; step < w; step++) {
            Py_ssize_t x = forward ? step : w - 1 - step;
            Py_ssize_t i = y * w + x;
            if (im->keep != NULL && im->keep[i]) continue; /* not opaque: plain index, no error */
            double px[3], target[3], e[3];
            to_work_fast(t, im->rgb + 3 * i, px);
            dithered_target(r, px, this_row + 3 * (x + 1), target);
            int j = nearest(pal, target);
            im->out[i] = im->ids[j];
            for (int c = 0; c < 3; c++) e[c] = target[c] - pal->rows[j][c];
            if ((e[0] * e[0] + e[1] * e[1]) + e[2] * e[2] > r->max_err2)
                for (int c = 0; c < 3; c++) e[c] *= 0.75;
            spread(this_row + 3 * (x + 1), next_row + 3 * (x + 1), forward, e);
        }
        double *swap = this_row;
        this_row = next_row;
        next_row = swap;
        forward = !forward;
    }
}

/* The call's arrays, in the order of diffuse()'s arguments. */
enum { RGB, KEEP, PALETTE, IDS, MATRIX, OUT, ARRAYS };

static int run(const Buf *b, int has_keep, Py_ssize_t width, Py_ssize_t height, int m, const Rules *r) {
    double *err = calloc((size_t)(6 * (width + 2)), sizeof(double));
    Palette *pal = malloc(sizeof(Palette));
    Products *t = malloc(sizeof(Products));
    const double *matrix = (const double *)b[MATRIX].view.buf;
    int failed = err == NULL || pal == NULL || t == NULL;
    if (!failed) {
        Image im = {(const uint8_t *)b[RGB].view.buf, has_keep ? (const uint8_t *)b[KEEP].view.buf : NULL,
                    (const uint8_t *)b[IDS].view.buf, (uint8_t *)b[OUT].view.buf, width, height};
        Py_BEGIN_ALLOW_THREADS
        products_init(matrix, t);
        failed = palette_init(matrix, (const uint8_t *)b[PALETTE].view.buf, m, r, pal) != 0;
        if (!failed) diffuse_rows(t, pal, r, &im, err);
        Py_END_ALLOW_THREADS
        free(pal->lists);
    }
    free(err);
    free(pal);
    free(t);
    return failed ? -1 : 0;
}

/* diffuse(rgb, keep, width, height, palette, ids, m, matrix, strength, min_err2, max_err2,
 *         (lo0, lo1, lo2), (hi0, hi1, hi2), out); keep (nonzero: leave the pixel) may be None.
 * rgb and out hold width x height pixels (3 bytes and 1), keep 1 byte a pixel, palette m RGB
 * entries, ids m bytes, matrix 9 doubles. */
static PyObject *diffuse(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *rgb, *keep, *palette, *ids, *matrix, *out;
    Py_ssize_t width, height;
    int m;
    Rules r;
    if (!PyArg_ParseTuple(args, "OOnnOOiOddd(ddd)(ddd)O:diffuse", &rgb, &keep, &width, &height, &palette, &ids, &m,
                          &matrix, &r.strength, &r.min_err2, &r.max_err2, &r.lo[0], &r.lo[1], &r.lo[2], &r.hi[0],
                          &r.hi[1], &r.hi[2], &out))
        return NULL;
    if (width < 1 || height < 1 || height > PY_SSIZE_T_MAX / width || m < 1 || m > MAX_ENTRIES) {
        PyErr_SetString(PyExc_ValueError, "diffuse: bad size or palette length");
        return NULL;
    }
    for (int c = 0; c < 3; c++)
        if (!(r.hi[c] > r.lo[c])) {
            PyErr_SetString(PyExc_ValueError, "diffuse: empty working box");
            return NULL;
        }
    Py_ssize_t n = width * height;
    int has_keep = keep != Py_None;
    Buf b[ARRAYS] = {{0}};
    if (buffer_get(rgb, &b[RGB], 0, 3, n, "rgb") < 0 || (has_keep && buffer_get(keep, &b[KEEP], 0, 1, n, "keep") < 0) ||
        buffer_get(palette, &b[PALETTE], 0, 3, m, "palette") < 0 || buffer_get(ids, &b[IDS], 0, 1, m, "ids") < 0 ||
        buffer_get(matrix, &b[MATRIX], 0, (Py_ssize_t)sizeof(double), 9, "matrix") < 0 ||
        buffer_get(out, &b[OUT], 1, 1, n, "out") < 0)
        return buffers_done(b, ARRAYS, NULL);
    int failed = run(b, has_keep, width, height, m, &r) != 0;
    return buffers_done(b, ARRAYS, failed ? PyErr_NoMemory() : Py_NewRef(Py_None));
}

static PyMethodDef methods[] = {
    {"diffuse", diffuse, METH_VARARGS, "Serpentine error diffusion of an RGB image to a palette."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dither", "kmimg's error-diffusion kernel.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__dither(void) { return PyModule_Create(&module); }
