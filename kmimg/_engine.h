/* kmimg/_engine.h: the internal header of the C extension kmimg._engine (the inner loops of
 * kmimg's k-means engine, kmimg/colorfit.py), shared by its files:
 *
 *   _engine.c          the module: its table of functions, and in_parallel (threads)
 *   _engine_search.c   the nearest centre: the projection search and the cell lists; nearest()
 *   _engine_bounds.c   Hamerly's and Elkan's bounds: one assignment step from the last; settle()
 *   _engine_lloyd.c    weighted Lloyd passes (over-relaxed, empty clusters); lloyd(), cluster_sums()
 *   _engine_grid.c     the occupied cells of a regular grid (hash table, radix sort); grid_cells();
 *                      the distinct colour keys with counts and inverse (radix sort); key_runs()
 *   _engine_seeding.c  greedy k-means++ and whole fits from several starts; starts()
 *   _engine_random.c   SplitMix64 numbers and the multinomial pixel sample; uniforms(), multinomial()
 *   _engine_small.c    a small colour table's whole fit, from its colours to each one's entry; small_fit()
 *
 * Every function computes exactly what the numpy code it replaces computed, in the same
 * floating-point order, so that palettes and output bytes do not depend on whether a loop runs
 * in numpy or here:
 *
 * - squared distances are summed in float32 as ((d0*d0 + d1*d1) + d2*d2) + d3*d3, each term
 *   rounded to float32 (the build turns off FMA contraction: see setup.py);
 * - the nearest centre is the lowest index among those at the smallest distance, and the
 *   runner-up is the second smallest distance of the multiset (equal to the best on a tie);
 * - weighted sums run over the points in index order in float64, as numpy.bincount does.
 *
 * The Python functions take contiguous buffers (numpy arrays, checked by the Python side and
 * again here, _buffers.h), release the GIL while they run, and write disjoint slices, so that
 * Python threads may run them on separate ranges of points without changing any result.
 *
 * What is here: the types the files share, their functions that others call, and the few
 * inner-loop helpers (the float32 distance, the projection search of one point, a cell list's
 * search) that every search path inlines.
 */
#ifndef KMIMG_ENGINE_H
#define KMIMG_ENGINE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_buffers.h"

#define MAX_DIM 8
#define MAX_THREADS 16

/* fn(items + v * size) for v in [0, count): item 0 on the calling thread, the others on threads
 * of their own (inline when no thread can be had). The items must be independent: the result is
 * then the same whatever the count. */
void in_parallel(void *(*fn)(void *), void *items, size_t size, Py_ssize_t count);

/* Centres sorted by their projection on one axis, for a pruned exact search.
 *
 * |u . (x - c)| <= |x - c| for a unit vector u, so a centre whose projection is farther from
 * the point's than the distance already found cannot be nearer. The search starts where the
 * point's projection falls in the sorted list and walks outwards in both directions, each
 * direction stopping once the gap of projections exceeds the distance to beat (with a margin
 * far above float32 rounding, so that no centre at an equal float32 distance is ever left
 * out). The axis is the centres' direction of largest spread (power iteration), where the
 * gaps grow fastest; any unit axis would give the same answers. */
typedef struct {
    float *rows;      /* the centres in sorted order, (m, dim) float32 */
    double *proj;     /* their projections, ascending */
    int64_t *index;   /* original index of each sorted position */
    int64_t *where;   /* sorted position of each original index */
    double axis[MAX_DIM];
    Py_ssize_t m;
    int dim;
} Centers;

/* 0, or -1 when out of memory (_engine_search.c). */
int centers_init(Centers *c, const float *rows, Py_ssize_t m, int dim);
void centers_free(Centers *c);

typedef struct {
    double key;
    int64_t index;
} Keyed;

static inline double project(const double *axis, const float *x, int dim) {
    double q = 0.0;
    for (int d = 0; d < dim; d++) q += axis[d] * (double)x[d];
    return q;
}

static inline float squared_distance(const float *x, const float *c, int dim) {
    float diff = x[0] - c[0];
    float sum = diff * diff;
    if (dim == 3) { /* RGB: the same sums, unrolled */
        float d1 = x[1] - c[1], d2 = x[2] - c[2];
        sum = sum + d1 * d1;
        return sum + d2 * d2;
    }
    if (dim == 4) { /* RGBA features: the same sums, unrolled */
        float d1 = x[1] - c[1], d2 = x[2] - c[2], d3 = x[3] - c[3];
        sum = sum + d1 * d1;
        sum = sum + d2 * d2;
        return sum + d3 * d3;
    }
    for (int d = 1; d < dim; d++) {
        diff = x[d] - c[d];
        sum = sum + diff * diff;
    }
    return sum;
}

/* A fit of at most this many points x centres (the starts and passes of a small image's
 * palette) assigns its points by a plain scan of the centres, spared by Hamerly's bounds after
 * the first pass (_engine_lloyd.c): on a few hundred colours the search structures of a pass
 * (sorted projections, neighbour lists, cell lists) cost more than the distances they spare.
 * The labels are the same. 16,384 (up to 1,024 colours at k = 16): the fit of the bench icons
 * 0.93x against 4,096, none better at 32,768 (2026-12-06, issue 26). */
#define SCAN_MAX 16384

/* Lloyd passes (lloyd_passes) on at most this many points x centres assign by a plain scan
 * spared by Hamerly's bounds after the first pass (_engine_lloyd.c), with or without bounds
 * wanted: once the centres settle few points are scanned, and a pass builds no search
 * structures; so does nearest() on as many (an icon's mapping: 0.5x of its time). 262,144: every icon of 64 x 64 at k = 16 and 64 (the photo tiles' fit 0.83x at
 * k = 16 and 64, the other icons' 0.97x / 0.77x) and the grid cells of a photo's sample at
 * k = 16 (the sample photos' fit ~0.95x); 2026-12-06, issue 26. The labels are the same. */
#define BOUNDED_SCAN_MAX 262144

/* ... and with at most this many centres: at k = 256 a plain first pass over a photo's coarse
 * cells (up to 1,024 of them within BOUNDED_SCAN_MAX) costs more than the search structures
 * spare (one photo per call at k = 256 1.13x slower with the scan; 2026-12-06). */
#define BOUNDED_SCAN_CENTRES 64

/* Whether n points and m centres are assigned by the bounded plain scan (see above). */
static inline int bounded_scan(Py_ssize_t n, Py_ssize_t m) { return m <= BOUNDED_SCAN_CENTRES && n * m <= BOUNDED_SCAN_MAX; }

/* The running nearest and runner-up of one point over a set of distinct centres seen in any
 * order: the lowest index among the smallest distances, and the second smallest distance of
 * the multiset (equal to the best on a tie), exactly as a scan in index order would give. */
typedef struct {
    float best, second;
    int64_t label;
} Nearest;

static inline void consider(Nearest *n, float dist, int64_t j) {
    int better = dist < n->best || (dist == n->best && j < n->label);
    float second = better ? n->best : (dist < n->second ? dist : n->second);
    n->best = better ? dist : n->best;
    n->label = better ? j : n->label;
    n->second = second;
}

/* The nearest centre and runner-up of the point p by a scan of every centre in index order. */
static inline Nearest scan_nearest(const float *p, const float *rows, Py_ssize_t m, int dim) {
    Nearest found = {INFINITY, INFINITY, 0};
    for (Py_ssize_t j = 0; j < m; j++) consider(&found, squared_distance(p, rows + (size_t)j * (size_t)dim, dim), j);
    return found;
}

/* scan_nearest() of centres stored by columns (cols[d * m + j]; m <= SCAN_COLUMNS_MAX): every
 * squared distance first, column by column (the same float32 sums in the same order, in a loop
 * the compiler vectorizes), then the nearest (the first of the smallest) and the runner-up in
 * index order: the same result as scan_nearest(). */
#define SCAN_COLUMNS_MAX 256

static inline Nearest scan_nearest_cols(const float *p, const float *cols, Py_ssize_t m, int dim) {
    float dist[SCAN_COLUMNS_MAX];
    const float p0 = p[0];
    for (Py_ssize_t j = 0; j < m; j++) {
        float diff = p0 - cols[j];
        dist[j] = diff * diff;
    }
    for (int d = 1; d < dim; d++) {
        const float pd = p[d], *col = cols + (size_t)d * (size_t)m;
        for (Py_ssize_t j = 0; j < m; j++) {
            float diff = pd - col[j];
            dist[j] = dist[j] + diff * diff;
        }
    }
    /* consider() in index order: a later centre at an equal distance is never better */
    float best = INFINITY, second = INFINITY;
    int64_t label = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        const float here = dist[j];
        if (here < best) {
            second = best;
            best = here;
            label = j;
        } else if (here < second) {
            second = here;
        }
    }
    Nearest found = {best, second, label};
    return found;
}

/* The centres rows (m, dim) by columns into cols (dim, m), for scan_nearest_cols(). */
static inline void centre_columns(const float *rows, Py_ssize_t m, int dim, float *cols) {
    for (Py_ssize_t j = 0; j < m; j++)
        for (int d = 0; d < dim; d++) cols[(size_t)d * (size_t)m + (size_t)j] = rows[(size_t)j * (size_t)dim + (size_t)d];
}

/* A projection gap beyond which every centre is strictly farther, in float32, than `beat`. */
static inline double beyond(float beat) { return (double)beat * (1.0 + 1e-5) + 1e-4; }

/* Nearest centre of the point x (and, with want_second, the exact runner-up distance),
 * optionally starting from the centre `warm` (original index, or -1). */
static inline Nearest nearest_one(const float *x, const Centers *c, int64_t warm, int want_second) {
    Nearest n = {INFINITY, INFINITY, 0};
    const int dim = c->dim;
    int64_t skip = -1;
    if (warm >= 0) {
        skip = c->where[warm];
        consider(&n, squared_distance(x, c->rows + (size_t)skip * (size_t)dim, dim), warm);
    }
    double q = project(c->axis, x, dim);
    /* first sorted position whose projection is >= q */
    Py_ssize_t lo = 0, hi = c->m;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (c->proj[mid] < q) lo = mid + 1;
        else hi = mid;
    }
    Py_ssize_t right = lo, left = lo - 1;
    int go_left = left >= 0, go_right = right < c->m;
    while (go_left || go_right) {
        double limit = beyond(want_second ? n.second : n.best);
        if (go_right) {
            double gap = c->proj[right] - q;
            if (gap * gap > limit) {
                go_right = 0;
            } else {
                if (right != skip)
                    consider(&n, squared_distance(x, c->rows + (size_t)right * (size_t)dim, dim), c->index[right]);
                go_right = ++right < c->m;
            }
        }
        limit = beyond(want_second ? n.second : n.best);
        if (go_left) {
            double gap = q - c->proj[left];
            if (gap * gap > limit) {
                go_left = 0;
            } else {
                if (left != skip)
                    consider(&n, squared_distance(x, c->rows + (size_t)left * (size_t)dim, dim), c->index[left]);
                go_left = --left >= 0;
            }
        }
    }
    return n;
}

/* Candidate lists per cell of a grid over the points (Heckbert's locally sorted search).
 *
 * For a box B, a centre can be the nearest or the second nearest centre of some point in B only
 * if its smallest distance to B is no larger than the second smallest, over all centres, of
 * the largest distance to B: two centres lie within that of every point of B. A cell's list
 * keeps those centres (with a margin far above float32 rounding, so that a centre at an equal
 * float32 distance is never left out) in index order, and a point is compared with its cell's
 * list only: the same nearest and runner-up as a scan of every centre.
 *
 * Three nested grids, each cell of one split in two along every axis in the next: a cell's list
 * is built from its parent's (a centre left out of the parent cannot qualify for a part of
 * it), and each list the first time a point of its cell is searched. */
#define LEVELS 2

typedef struct {
    int32_t *first, *count; /* per cell; count -1: not built yet */
    int grid;
    double step[MAX_DIM];
} Level;

typedef struct {
    const float *rows; /* the centres in index order, (m, dim) */
    Py_ssize_t m;
    int dim;
    double lo[MAX_DIM], inverse[MAX_DIM];
    Level level[LEVELS];
    int32_t *items, *all;
    double *near;
    size_t used, capacity;
} Cells;

/* 0: lists ready; 1: not worth it here (use the projection search); -1: out of memory. */
int cells_init(Cells *g, const float *rows, Py_ssize_t m, int dim, const float *x, Py_ssize_t start, Py_ssize_t stop);
void cells_free(Cells *g);
/* The list of the finest cell holding `coord`, built (with its ancestors) if need be; NULL when
 * out of memory. */
const int32_t *cells_list(Cells *g, const int coord[MAX_DIM], int32_t *count);

/* Nearest centre and runner-up of x through its cell's list; ok = 0 when out of memory. */
static inline Nearest cells_nearest(Cells *g, const float *x, int *ok) {
    const int dim = g->dim, top = g->level[LEVELS - 1].grid - 1;
    int coord[MAX_DIM];
    for (int d = 0; d < dim; d++) {
        int at = (int)((x[d] - g->lo[d]) * g->inverse[d]);
        coord[d] = at < 0 ? 0 : (at > top ? top : at);
    }
    Nearest n = {INFINITY, INFINITY, 0};
    int32_t count = 0;
    const int32_t *list = cells_list(g, coord, &count);
    if (!list) {
        *ok = 0;
        return n;
    }
    for (int32_t s = 0; s < count; s++) {
        int32_t j = list[s];
        consider(&n, squared_distance(x, g->rows + (size_t)j * (size_t)dim, dim), j);
    }
    return n;
}

/* Each centre's nearest other centres, sorted by distance (Elkan's centre-to-centre bounds).
 *
 * A point x of centre a at distance u from it is no nearer than D - u to a centre at distance
 * D from a. Scanning a's neighbours in order of D, everything from the first with D - u above
 * the runner-up distance found so far on is farther than the runner-up: the nearest and the
 * runner-up are exact. Only the NEIGHBOURS nearest are listed; when the scan runs off the end
 * of the list before it may stop (`beyond`, the distance of the nearest centre not listed, is
 * not far enough), the caller searches all centres instead. */
#define NEIGHBOURS 24

typedef struct {
    int32_t *index;  /* (m, listed) original indices, by distance */
    double *dist;    /* (m, listed) their distances (carried: lower bounds, in the same order) */
    double *beyond;  /* (m,) distance of the nearest centre not listed (inf: all are; carried: a
                        lower bound), never below the listed ones */
    double *slack;   /* (m,) how much a row was lowered since it was listed (neighbours_carry) */
    int32_t *which;  /* (m,) scratch: the rows to list again */
    double *cols;    /* (dim, m) scratch: the centres by columns */
    Py_ssize_t listed;
} Neighbours;

/* 0, or -1 when out of memory (_engine_bounds.c): the rows of the centres (m, dim) float32, in
 * index order, split between up to `threads` threads. */
int neighbours_init(Neighbours *nb, const float *rows, Py_ssize_t m, int dim, int threads);
void neighbours_free(Neighbours *nb);

/* A neighbour list carried over one Lloyd pass is still valid with its distances lowered by the
 * moves (see neighbours_carry): the searches only need lower bounds in order. A row is listed
 * again once lowered by more than this part of its nearest distance as listed. */
#define CARRY_SLACK 0.1

/* ... from this many centres: below, a new list costs less than the looser bounds of a carried
 * one (k = 16 and 64 measured 4-6 % slower with carried lists; benchmarks/NOTES.md). */
#define CARRY_MIN 128

/* The list carried over to the centres `rows` (m, dim) float32 that moved by move[j] since it
 * was made or last carried (largest: the largest move); 0, or -1 when out of memory. */
int neighbours_carry(Neighbours *nb, const float *rows, Py_ssize_t m, int dim, const double *move, double largest,
                     int threads);

/* How far the centres moved in the last pass, for Hamerly's bounds (move NULL: no pass yet),
 * and half of each centre's distance to its nearest other centre (half NULL: not known). */
typedef struct {
    const double *move;
    double largest, runner_up; /* the largest move, and the largest of the other centres */
    int64_t fastest;
    const double *half;
    const Neighbours *neighbours;
    const double *near_move; /* per centre: the largest move among its listed neighbours */
} Moves;

Moves moves_of(const double *move, Py_ssize_t m, double largest);
/* half[j]: half the distance from centre j to its nearest other centre, by a scan of all pairs
 * (centers float64) or from a neighbour list (with each centre's largest move among its listed
 * neighbours, near_move). */
void half_gaps(const double *centers, Py_ssize_t m, int dim, double *half);
void neighbour_moves(const Neighbours *nb, const double *move, Py_ssize_t m, double *half, double *near_move);
/* One Hamerly step over all n points (a full search on the first pass, moved->move NULL), on up
 * to `threads` threads over disjoint slices: the same result whatever the number. */
void refresh_all(const Centers *c, const float *rows, const float *x, int64_t *lab, double *up, double *low,
                 const Moves *moved, double margin, Py_ssize_t n, int threads);

/* Each point's centre and Hamerly bounds at the last pass's assignment, and how far each centre
 * moved after it (to the returned centres). */
typedef struct {
    int64_t *lab;
    double *up, *low, *move;
} Bounds;

/* Weighted Lloyd passes (_engine_lloyd.c) moving all but the first `fixed` centres; returns the
 * passes run, or -1 when out of memory. See lloyd() there for the contract; out (NULL: not
 * wanted) receives the last assignment. */
Py_ssize_t lloyd_passes(const double *f, const float *x, const double *w, double *centers, Py_ssize_t n, Py_ssize_t m,
                        Py_ssize_t fixed, int dim, Py_ssize_t passes, double tol, double relax, double margin,
                        int threads, const Bounds *out);

/* starts() on the calling thread (_engine_seeding.c); 0, or -1 when out of memory. */
int starts_serial(const double *f, const float *x, const double *w, Py_ssize_t n, int dim, const int64_t *first,
                  const double *draw, Py_ssize_t t, Py_ssize_t k, Py_ssize_t count, Py_ssize_t passes, double tol,
                  double relax, double margin, Py_ssize_t fixed, int dense, double *centers, float *distances);
/* grid_cells() into out (_engine_grid.c): the count, or -1 when out of memory. */
Py_ssize_t grid_cells_of(const double *f, Py_ssize_t n, int dim, Py_ssize_t grid, int64_t *out);
/* uniforms() into out (_engine_random.c). */
void fill_uniforms(uint64_t seed, uint64_t stream, double *out, Py_ssize_t count);

/* The functions of the module's table (_engine.c), one file each by algorithm. */
PyObject *py_nearest(PyObject *self, PyObject *args);
PyObject *py_lloyd(PyObject *self, PyObject *args);
PyObject *py_settle(PyObject *self, PyObject *args);
PyObject *py_cluster_sums(PyObject *self, PyObject *args);
PyObject *py_grid_cells(PyObject *self, PyObject *args);
PyObject *py_key_runs(PyObject *self, PyObject *args);
PyObject *py_starts(PyObject *self, PyObject *args);
PyObject *py_uniforms(PyObject *self, PyObject *args);
PyObject *py_multinomial(PyObject *self, PyObject *args);
PyObject *py_small_fit(PyObject *self, PyObject *args);

#endif /* KMIMG_ENGINE_H */
