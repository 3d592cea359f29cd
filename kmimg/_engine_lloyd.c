/* kmimg._engine: weighted Lloyd passes (lloyd()), the assignment of each pass through
 * _engine_bounds.c, and weighted cluster sums (cluster_sums()).
 */
#include "_engine.h"

/* The `count` points that cost most (weight x squared distance to their nearest centre), most
 * first and the lowest index among equals: numpy's argsort(-cost, kind="stable")[:count]. */
static void costliest(const double *cost, Py_ssize_t n, Py_ssize_t count, unsigned char *taken, Py_ssize_t *out) {
    memset(taken, 0, (size_t)n);
    for (Py_ssize_t r = 0; r < count; r++) {
        Py_ssize_t best = -1;
        for (Py_ssize_t i = 0; i < n; i++)
            if (!taken[i] && (best < 0 || cost[i] > cost[best])) best = i;
        taken[best] = 1;
        out[r] = best;
    }
}

typedef struct {
    float *c32, *cols; /* the centres as float32, by rows and (bounded scan) by columns */
    int64_t *lab, *empty;
    double *up, *low, *mass, *sums, *updated, *move, *cost, *half, *near_move;
    Py_ssize_t *worst;
    unsigned char *taken;
    Neighbours nb; /* the centres' neighbour list, carried from pass to pass */
    int listed;    /* whether nb is made */
} Scratch;

static void scratch_free(Scratch *s) {
    free(s->c32);
    free(s->cols);
    free(s->lab);
    free(s->empty);
    free(s->up);
    free(s->low);
    free(s->mass);
    free(s->sums);
    free(s->updated);
    free(s->move);
    free(s->cost);
    free(s->half);
    free(s->near_move);
    free(s->worst);
    free(s->taken);
    if (s->listed) neighbours_free(&s->nb);
    s->listed = 0;
}

static int scratch_init(Scratch *s, Py_ssize_t n, Py_ssize_t m, int dim) {
    size_t nn = (size_t)n, mm = (size_t)m, dd = (size_t)dim;
    s->c32 = (float *)malloc(sizeof(float) * mm * dd);
    s->cols = (float *)malloc(sizeof(float) * mm * dd);
    s->lab = (int64_t *)malloc(sizeof(int64_t) * nn);
    s->empty = (int64_t *)malloc(sizeof(int64_t) * mm);
    s->up = (double *)malloc(sizeof(double) * nn);
    s->low = (double *)malloc(sizeof(double) * nn);
    s->mass = (double *)malloc(sizeof(double) * mm);
    s->sums = (double *)malloc(sizeof(double) * mm * dd);
    s->updated = (double *)malloc(sizeof(double) * mm * dd);
    s->move = (double *)malloc(sizeof(double) * mm);
    s->cost = (double *)malloc(sizeof(double) * nn);
    s->half = (double *)malloc(sizeof(double) * mm);
    s->near_move = (double *)malloc(sizeof(double) * mm);
    s->worst = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * mm);
    s->taken = (unsigned char *)malloc(nn);
    if (!s->c32 || !s->cols || !s->lab || !s->empty || !s->up || !s->low || !s->mass || !s->sums || !s->updated || !s->move ||
        !s->cost || !s->half || !s->near_move || !s->worst || !s->taken) {
        scratch_free(s);
        return -1;
    }
    return 0;
}

/* The last passes of an over-relaxed run are plain Lloyd passes (relax 1). */
#define PLAIN_TAIL 3

/* Over-relaxation: centre j moves from c to c + relax * (mean - c) (relax 1: to the mean); the
 * first `fixed` centres do not move. */
static void relax_steps(const double *centers, const double *mass, double *updated, Py_ssize_t m, Py_ssize_t fixed,
                        int dim, double relax) {
    for (Py_ssize_t j = fixed; j < m; j++) {
        if (!(mass[j] > 0)) continue;
        for (int d = 0; d < dim; d++) {
            size_t v = (size_t)j * (size_t)dim + (size_t)d;
            updated[v] = centers[v] + relax * (updated[v] - centers[v]);
        }
    }
}

/* One pass's assignment of a small set (see BOUNDED_SCAN_MAX) by Hamerly's bounds over a plain scan:
 * on the first pass every point is scanned (exact bounds); later, a point whose bounds, widened
 * by the last pass's moves (s->move, largest), still separate it from every other centre (with
 * `margin`, or within half the gap to its centre's nearest neighbour) keeps its centre, and the
 * others are scanned again. The labels are a full scan's; the bounds those refresh_all keeps. */
static void assign_by_scan(Scratch *s, const double *centers, const float *x, Py_ssize_t n, Py_ssize_t m, int dim,
                           Py_ssize_t pass, double largest, double margin) {
    const Moves moved = moves_of(pass == 0 ? NULL : s->move, m, largest);
    if (pass > 0) half_gaps(centers, m, dim, s->half);
    centre_columns(s->c32, m, dim, s->cols);
    for (Py_ssize_t i = 0; i < n; i++) {
        const float *p = x + (size_t)i * (size_t)dim;
        if (pass > 0) {
            const int64_t a = s->lab[i];
            s->up[i] += s->move[a];
            s->low[i] -= a == moved.fastest ? moved.runner_up : moved.largest;
            double bound = s->low[i] > s->half[a] ? s->low[i] : s->half[a];
            if (s->up[i] + margin < bound) continue;
            s->up[i] = sqrt((double)squared_distance(p, s->c32 + (size_t)a * (size_t)dim, dim));
            if (s->up[i] + margin < bound) continue;
        }
        Nearest found = scan_nearest_cols(p, s->cols, m, dim);
        s->lab[i] = found.label;
        s->up[i] = sqrt((double)found.best);
        s->low[i] = sqrt((double)found.second);
    }
}

/* One pass's assignment through Hamerly's bounds (pass > 0: from the last pass's, widened by
 * the moves in s->move); 0, or -1 when out of memory. */
static int assign_by_search(Scratch *s, const double *centers, const float *x, Py_ssize_t n, Py_ssize_t m, int dim,
                            Py_ssize_t pass, double largest, double margin, int threads) {
    Centers c;
    if (centers_init(&c, s->c32, m, dim) < 0) return -1;
    Moves moved = moves_of(pass == 0 ? NULL : s->move, m, largest);
    if (pass > 0) {
        /* the list of the last pass carried over (its rows that moved most listed again), or a
         * new one; either gives the same labels */
        if (s->listed && m >= CARRY_MIN) {
            s->listed = neighbours_carry(&s->nb, s->c32, m, dim, s->move, largest, threads) == 0;
        } else if (m > 8) {
            if (s->listed) neighbours_free(&s->nb);
            s->listed = neighbours_init(&s->nb, s->c32, m, dim, threads) == 0;
        }
        if (s->listed) {
            moved.neighbours = &s->nb;
            neighbour_moves(&s->nb, s->move, m, s->half, s->near_move);
            moved.near_move = s->near_move;
        } else {
            half_gaps(centers, m, dim, s->half);
        }
        moved.half = s->half;
    }
    refresh_all(&c, s->c32, x, s->lab, s->up, s->low, &moved, margin, n, threads);
    centers_free(&c);
    return 0;
}

Py_ssize_t lloyd_passes(const double *f, const float *x, const double *w, double *centers, Py_ssize_t n,
                        Py_ssize_t m, Py_ssize_t fixed, int dim, Py_ssize_t passes, double tol, double relax,
                        double margin, int threads, const Bounds *out) {
    Scratch s;
    memset(&s, 0, sizeof(s));
    if (scratch_init(&s, n, m, dim) < 0) return -1;
    const size_t dd = (size_t)dim;
    double largest = 0.0;
    Py_ssize_t pass = 0;
    /* A small set (an icon's fits): a plain scan of every centre, spared by Hamerly's bounds,
     * costs less than a pass's search structures (sorted projections, neighbour lists). */
    const int scan = bounded_scan(n, m);
    while (pass < passes) {
        for (size_t v = 0; v < (size_t)m * dd; v++) s.c32[v] = (float)centers[v];
        if (scan) {
            assign_by_scan(&s, centers, x, n, m, dim, pass, largest, margin);
        } else if (assign_by_search(&s, centers, x, n, m, dim, pass, largest, margin, threads) < 0) {
            scratch_free(&s);
            return -1;
        }
        pass++;
        /* weighted sums in point order, as numpy.bincount adds them */
        double *mass = s.mass, *sums = s.sums;
        const int64_t *lab = s.lab;
        memset(mass, 0, sizeof(double) * (size_t)m);
        memset(sums, 0, sizeof(double) * (size_t)m * dd);
        if (dim == 3) { /* RGB: the same sums, unrolled */
            for (Py_ssize_t i = 0; i < n; i++) {
                const int64_t j = lab[i];
                const double weight = w[i], *p = f + (size_t)i * 3;
                double *sum = sums + (size_t)j * 3;
                mass[j] += weight;
                sum[0] += weight * p[0];
                sum[1] += weight * p[1];
                sum[2] += weight * p[2];
            }
        } else if (dim == 4) { /* RGBA features: the same sums, unrolled */
            for (Py_ssize_t i = 0; i < n; i++) {
                const int64_t j = lab[i];
                const double weight = w[i], *p = f + (size_t)i * 4;
                double *sum = sums + (size_t)j * 4;
                mass[j] += weight;
                sum[0] += weight * p[0];
                sum[1] += weight * p[1];
                sum[2] += weight * p[2];
                sum[3] += weight * p[3];
            }
        } else {
            for (Py_ssize_t i = 0; i < n; i++) {
                int64_t j = lab[i];
                mass[j] += w[i];
                for (int d = 0; d < dim; d++) sums[(size_t)j * dd + (size_t)d] += w[i] * f[(size_t)i * dd + (size_t)d];
            }
        }
        /* a fixed centre stays where it is, with points or without (never an empty cluster) */
        Py_ssize_t empties = 0;
        for (Py_ssize_t j = 0; j < m; j++) {
            int moves = j >= fixed && s.mass[j] > 0;
            for (int d = 0; d < dim; d++) {
                size_t v = (size_t)j * dd + (size_t)d;
                s.updated[v] = moves ? s.sums[v] / s.mass[j] : centers[v];
            }
            if (j >= fixed && !(s.mass[j] > 0)) s.empty[empties++] = j;
        }
        if (relax != 1.0 && pass <= passes - PLAIN_TAIL) relax_steps(centers, s.mass, s.updated, m, fixed, dim, relax);
        if (empties) {
            /* an empty cluster takes the point that costs most (its own exact distance) */
            for (Py_ssize_t i = 0; i < n; i++)
                s.cost[i] = w[i] * (double)squared_distance(x + (size_t)i * dd, s.c32 + (size_t)s.lab[i] * dd, dim);
            Py_ssize_t count = empties < n ? empties : n;
            costliest(s.cost, n, count, s.taken, s.worst);
            for (Py_ssize_t r = 0; r < count; r++)
                for (int d = 0; d < dim; d++)
                    s.updated[(size_t)s.empty[r] * dd + (size_t)d] = f[(size_t)s.worst[r] * dd + (size_t)d];
        }
        double shift = 0.0;
        largest = 0.0;
        for (Py_ssize_t j = 0; j < m; j++) {
            double squared = 0.0;
            for (int d = 0; d < dim; d++) {
                size_t v = (size_t)j * dd + (size_t)d;
                double step = s.updated[v] - centers[v];
                double size = step < 0 ? -step : step;
                if (size > shift) shift = size;
                squared += step * step;
            }
            s.move[j] = sqrt(squared);
            if (s.move[j] > largest) largest = s.move[j];
        }
        memcpy(centers, s.updated, sizeof(double) * (size_t)m * dd);
        if (shift <= tol && !empties) break;
    }
    if (out && pass > 0) {
        /* the last assignment with its bounds, and how far each centre moved after it */
        memcpy(out->lab, s.lab, sizeof(int64_t) * (size_t)n);
        memcpy(out->up, s.up, sizeof(double) * (size_t)n);
        memcpy(out->low, s.low, sizeof(double) * (size_t)n);
        memcpy(out->move, s.move, sizeof(double) * (size_t)m);
    }
    scratch_free(&s);
    return pass;
}

/* lloyd(features, points, n, dim, weights, centers, m, passes, tol, relax, margin, threads
 *       [, labels, up, low, move, fixed]) -> passes
 *
 * Weighted Lloyd iterations on features float64 (n, dim) (points: the same as float32, for the
 * search), moving centers float64 (m, dim) in place; stops early when no centre moves more
 * than tol along any axis. An empty cluster is moved onto the point that costs most. The first
 * `fixed` centres (any feature vectors, 0 by default) take part in every assignment but never
 * move, and a fixed centre without points is not an empty cluster. With labels, up, low and
 * move (None: not wanted) the last pass's assignment and bounds come back (see Bounds). Hamerly's
 * bounds (2010) spare most of the nearest-centre search after the first pass; they only skip
 * points whose centre cannot have changed, so the centres are exactly those of plain Lloyd.
 *
 * relax != 1 over-relaxes all but the last PLAIN_TAIL passes: a centre moves relax times the
 * way to its cluster's mean (the bounds widen by the move actually made, so they stay exact).
 * On the dense colour sets of photos plain Lloyd creeps (the inertia still falls 0.01 % a pass
 * after 40 passes); relax 2 gets further in 15 passes than plain Lloyd in 40. */
PyObject *py_lloyd(PyObject *self, PyObject *args) {
    PyObject *features, *points, *weights, *centers, *labels = Py_None, *up = Py_None, *low = Py_None, *move = Py_None;
    Py_ssize_t n, m, passes, fixed = 0;
    int dim, threads;
    double tol, relax, margin;
    if (!PyArg_ParseTuple(args, "OOniOOnndddi|OOOOn", &features, &points, &n, &dim, &weights, &centers, &m, &passes, &tol,
                          &relax, &margin, &threads, &labels, &up, &low, &move, &fixed))
        return NULL;
    if (dim < 1 || dim > MAX_DIM || n < 1 || m < 1 || passes < 0 || !(relax > 0 && relax <= 2) || fixed < 0 ||
        fixed > m) {
        PyErr_SetString(PyExc_ValueError, "lloyd: bad shape");
        return NULL;
    }
    int bounded = labels != Py_None;
    Buf b[8] = {{0}};
    if (buffer_get(features, &b[0], 0, 8 * dim, n, "features") < 0 || buffer_get(points, &b[1], 0, 4 * dim, n, "points") < 0 ||
        buffer_get(weights, &b[2], 0, 8, n, "weights") < 0 || buffer_get(centers, &b[3], 1, 8 * dim, m, "centers") < 0 ||
        (bounded && (buffer_get(labels, &b[4], 1, 8, n, "labels") < 0 || buffer_get(up, &b[5], 1, 8, n, "up") < 0 ||
                     buffer_get(low, &b[6], 1, 8, n, "low") < 0 || buffer_get(move, &b[7], 1, 8, m, "move") < 0))) {
        return buffers_done(b, 8, NULL);
    }
    Bounds out = {bounded ? (int64_t *)b[4].view.buf : NULL, bounded ? (double *)b[5].view.buf : NULL,
                  bounded ? (double *)b[6].view.buf : NULL, bounded ? (double *)b[7].view.buf : NULL};
    Py_ssize_t done;
    Py_BEGIN_ALLOW_THREADS
    done = lloyd_passes((const double *)b[0].view.buf, (const float *)b[1].view.buf, (const double *)b[2].view.buf,
                        (double *)b[3].view.buf, n, m, fixed, dim, passes, tol, relax, margin, threads,
                        bounded ? &out : NULL);
    Py_END_ALLOW_THREADS
    return buffers_done(b, 8, done < 0 ? PyErr_NoMemory() : PyLong_FromSsize_t(done));
}

/* cluster_sums(features, n, dim, weights, labels, k, mass, sums)
 * mass[j] = sum of weights[i] and sums[j, d] = sum of weights[i] * features[i, d] over the
 * points i with labels[i] == j, features float64 (n, dim); added in index order. */
PyObject *py_cluster_sums(PyObject *self, PyObject *args) {
    PyObject *features, *weights, *labels, *mass, *sums;
    Py_ssize_t n, k;
    int dim;
    if (!PyArg_ParseTuple(args, "OniOOnOO", &features, &n, &dim, &weights, &labels, &k, &mass, &sums)) return NULL;
    if (dim < 1 || dim > MAX_DIM || k < 1) {
        PyErr_SetString(PyExc_ValueError, "cluster_sums: bad shape");
        return NULL;
    }
    Buf b[5] = {{0}};
    if (buffer_get(features, &b[0], 0, 8 * dim, n, "features") < 0 || buffer_get(weights, &b[1], 0, 8, n, "weights") < 0 ||
        buffer_get(labels, &b[2], 0, 8, n, "labels") < 0 || buffer_get(mass, &b[3], 1, 8, k, "mass") < 0 ||
        buffer_get(sums, &b[4], 1, 8 * dim, k, "sums") < 0) {
        return buffers_done(b, 5, NULL);
    }
    const double *f = (const double *)b[0].view.buf, *w = (const double *)b[1].view.buf;
    const int64_t *lab = (const int64_t *)b[2].view.buf;
    double *total = (double *)b[3].view.buf, *sum = (double *)b[4].view.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    memset(total, 0, sizeof(double) * (size_t)k);
    memset(sum, 0, sizeof(double) * (size_t)k * (size_t)dim);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t j = lab[i];
        if (j < 0 || j >= k) {
            bad = 1;
            break;
        }
        total[j] += w[i];
        for (int d = 0; d < dim; d++) sum[j * dim + d] += w[i] * f[(size_t)i * (size_t)dim + (size_t)d];
    }
    Py_END_ALLOW_THREADS
    if (bad) PyErr_SetString(PyExc_ValueError, "cluster_sums: label out of range");
    return buffers_done(b, 5, bad ? NULL : Py_NewRef(Py_None));
}
