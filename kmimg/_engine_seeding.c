/* kmimg._engine: greedy k-means++ seeding and whole fits from several starts (starts()).
 */
#include "_engine.h"

/* Greedy k-means++ (scikit-learn's variant), as kmimg's numpy code did it: each step draws t
 * candidates, candidate = min(searchsorted(cumulative, draw * cumulative[-1]), n - 1) (side
 * 'left'), where cumulative is the running sum of weights * closest (closest: each point's
 * squared distance to its nearest chosen centre, float32 sums as squared_distance computes
 * them); the candidate that lowers the potential sum(weights * closest) most is chosen (the
 * first on a tie) and closest becomes min(closest, distance to it).
 *
 * The gain of a candidate is summed only over the points it can come nearer to: the points are
 * kept in lists by their nearest chosen centre a, each list sorted by that distance, farthest
 * first. A point at distance r from a is no nearer than D - r to a candidate at distance D from
 * a (triangle inequality), so only the points with 2 r > D can gain (with a margin far above
 * float32 rounding): a list is read up to its first point closer than D / 2. The gains are the
 * same sums over the same points whatever is skipped (a skipped point gains exactly 0), added
 * list by list. */
typedef struct {
    double *near, *cum, *gain;
    int64_t *next, *head, *chosen, *label; /* label: each point's nearest given centre */
    Keyed *moved, *spare; /* spare: the merge sort's other half */
    float *rows;          /* the chosen centres, (k, dim) */
    int dense;            /* no lists: every step reads every point (small point sets) */
    float *row;           /* dense: each candidate's distance to every point, (t, n) */
    float *cols;          /* dense: the points by columns, (dim, n), for column_distances */
} Seeding;

static void seeding_free(Seeding *s) {
    free(s->near);
    free(s->cum);
    free(s->gain);
    free(s->next);
    free(s->head);
    free(s->chosen);
    free(s->label);
    free(s->moved);
    free(s->spare);
    free(s->rows);
    free(s->row);
    free(s->cols);
}

/* 0, or -1 when out of memory. */
static int seeding_init(Seeding *s, Py_ssize_t n, int dim, Py_ssize_t k) {
    memset(s, 0, sizeof(*s));
    size_t nn = (size_t)n, kk = (size_t)k;
    s->near = (double *)malloc(sizeof(double) * nn);
    s->cum = (double *)malloc(sizeof(double) * nn);
    s->gain = (double *)malloc(sizeof(double) * 64);
    s->next = (int64_t *)malloc(sizeof(int64_t) * nn);
    s->head = (int64_t *)malloc(sizeof(int64_t) * kk);
    s->chosen = (int64_t *)malloc(sizeof(int64_t) * kk);
    s->label = (int64_t *)malloc(sizeof(int64_t) * nn);
    s->moved = (Keyed *)malloc(sizeof(Keyed) * nn);
    s->spare = (Keyed *)malloc(sizeof(Keyed) * nn);
    s->rows = (float *)malloc(sizeof(float) * kk * (size_t)dim);
    if (!s->near || !s->cum || !s->gain || !s->next || !s->head || !s->chosen || !s->label || !s->moved || !s->spare || !s->rows) {
        seeding_free(s);
        return -1;
    }
    return 0;
}

/* Dense seeding's scratch: the candidates' distances (t, n) and the points by columns; 0, or -1
 * when out of memory. */
static int seeding_columns(Seeding *s, const float *x, Py_ssize_t n, int dim, Py_ssize_t t) {
    s->row = (float *)malloc(sizeof(float) * (size_t)t * (size_t)n);
    s->cols = (float *)malloc(sizeof(float) * (size_t)dim * (size_t)n);
    if (!s->row || !s->cols) return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        for (int d = 0; d < dim; d++) s->cols[(size_t)d * (size_t)n + (size_t)i] = x[(size_t)i * (size_t)dim + (size_t)d];
    return 0;
}

/* The squared distance from its centre below which a point cannot come nearer to a point at
 * squared distance `apart` from that centre: 2 r (1 + 1e-5) + 1e-3 < sqrt(apart) for r below
 * it (rounded down a little: a point at the threshold is always read). */
static inline double gain_threshold(double apart) {
    double r = (sqrt(apart) - 1e-3) / (2.0 * (1.0 + 1e-5));
    return r > 0 ? r * r * (1.0 - 1e-9) : 0.0;
}

static inline double between(const float *p, const float *q, int dim) {
    double sum = 0.0;
    for (int d = 0; d < dim; d++) {
        double step = (double)p[d] - (double)q[d];
        sum += step * step;
    }
    return sum;
}

/* Every point's squared distance to c from the points' columns (dim, n): squared_distance's
 * float32 sums in its order, ((d0*d0 + d1*d1) + d2*d2) + ..., a column at a time, so that the
 * compiler can vectorize them (the same bits as a point at a time). */
static void column_distances(const float *cols, Py_ssize_t n, int dim, const float *c, float *out) {
    for (Py_ssize_t i = 0; i < n; i++) {
        float diff = cols[i] - c[0];
        out[i] = diff * diff;
    }
    for (int d = 1; d < dim; d++) {
        const float *col = cols + (size_t)d * (size_t)n;
        for (Py_ssize_t i = 0; i < n; i++) {
            float diff = col[i] - c[d];
            out[i] = out[i] + diff * diff;
        }
    }
}

/* Dense seeding: the gain of each of the t candidates (distances in s->row, (t, n)), the sum of
 * w[i] * (near[i] - dist) over the points it comes nearer to, added in point order. The t sums
 * run side by side (independent chains); a point that does not come nearer adds +0.0, which
 * leaves the non-negative sum's bits as they are. */
static void dense_gains(Seeding *s, Py_ssize_t n, const double *w, Py_ssize_t t) {
    double gain[64] = {0.0};
    for (Py_ssize_t i = 0; i < n; i++) {
        const double near = s->near[i], weight = w[i];
        for (Py_ssize_t j = 0; j < t; j++) {
            const double dist = (double)s->row[(size_t)j * (size_t)n + (size_t)i];
            gain[j] += dist < near ? weight * (near - dist) : 0.0;
        }
    }
    memcpy(s->gain, gain, sizeof(double) * (size_t)t);
}

/* One step: the chosen candidate's index among cand[0..t). */
static Py_ssize_t kpp_choose(Seeding *s, const float *x, Py_ssize_t n, int dim, const double *w, const Py_ssize_t *cand,
                             Py_ssize_t t, Py_ssize_t count) {
    if (s->dense) {
        for (Py_ssize_t j = 0; j < t; j++) /* kept: the chosen one's are kpp_take's */
            column_distances(s->cols, n, dim, x + (size_t)cand[j] * (size_t)dim, s->row + (size_t)j * (size_t)n);
        dense_gains(s, n, w, t);
    }
    for (Py_ssize_t j = 0; j < t && !s->dense; j++) {
        const float *c = x + (size_t)cand[j] * (size_t)dim;
        double gain = 0.0;
        for (Py_ssize_t a = 0; a < count; a++) {
            const double least = gain_threshold(between(s->rows + (size_t)a * (size_t)dim, c, dim));
            for (int64_t i = s->head[a]; i >= 0 && s->near[i] >= least; i = s->next[i]) {
                double dist = (double)squared_distance(x + (size_t)i * (size_t)dim, c, dim);
                if (dist < s->near[i]) gain += w[i] * (s->near[i] - dist);
            }
        }
        s->gain[j] = gain;
    }
    Py_ssize_t best = 0;
    for (Py_ssize_t j = 1; j < t; j++)
        if (s->gain[j] > s->gain[best]) best = j;
    return best;
}

/* by distance, farthest first, then by index (a total order: the indices differ) */
static inline int farther(const Keyed *p, const Keyed *q) {
    return p->key > q->key || (p->key == q->key && p->index < q->index);
}

#define SORT_RUN 16

/* Sort a[0..count) farthest first: insertion-sorted runs, then bottom-up merges through
 * `spare` (count items). The order is total, so the result is qsort's; the comparison is
 * inlined, about a fifth of the seeding's time with qsort's callback (2026-12-03). */
static void sort_farthest_first(Keyed *a, Keyed *spare, Py_ssize_t count) {
    for (Py_ssize_t lo = 0; lo < count; lo += SORT_RUN) {
        Py_ssize_t hi = lo + SORT_RUN < count ? lo + SORT_RUN : count;
        for (Py_ssize_t i = lo + 1; i < hi; i++) {
            Keyed item = a[i];
            Py_ssize_t j = i;
            for (; j > lo && farther(&item, &a[j - 1]); j--) a[j] = a[j - 1];
            a[j] = item;
        }
    }
    Keyed *from = a, *to = spare;
    for (Py_ssize_t width = SORT_RUN; width < count; width *= 2) {
        for (Py_ssize_t lo = 0; lo < count; lo += 2 * width) {
            Py_ssize_t mid = lo + width < count ? lo + width : count;
            Py_ssize_t hi = lo + 2 * width < count ? lo + 2 * width : count;
            Py_ssize_t i = lo, j = mid, out = lo;
            while (i < mid && j < hi) to[out++] = farther(&from[j], &from[i]) ? from[j++] : from[i++];
            while (i < mid) to[out++] = from[i++];
            while (j < hi) to[out++] = from[j++];
        }
        Keyed *swap = from;
        from = to;
        to = swap;
    }
    if (from != a) memcpy(a, from, sizeof(Keyed) * (size_t)count);
}

/* Link the `count` points of s->moved (sorted) into the list of centre `a`. */
static void kpp_link(Seeding *s, Py_ssize_t a, Py_ssize_t count) {
    sort_farthest_first(s->moved, s->spare, count);
    s->head[a] = count ? s->moved[0].index : -1;
    for (Py_ssize_t r = 0; r < count; r++) s->next[s->moved[r].index] = r + 1 < count ? s->moved[r + 1].index : -1;
}

/* Make point `index` the centre number `count`: the points it comes nearer to join its list
 * (dense: `row` holds every point's distance to it, from kpp_choose). */
static void kpp_take(Seeding *s, const float *x, Py_ssize_t n, int dim, const double *w, Py_ssize_t index,
                     Py_ssize_t count, const float *row) {
    const float *c = x + (size_t)index * (size_t)dim;
    memcpy(s->rows + (size_t)count * (size_t)dim, c, sizeof(float) * (size_t)dim);
    s->chosen[count] = index;
    if (s->dense) {
        double running = 0.0;
        for (Py_ssize_t i = 0; i < n; i++) {
            double dist = (double)row[i];
            if (dist < s->near[i]) s->near[i] = dist;
            running += w[i] * s->near[i];
            s->cum[i] = running;
        }
        return;
    }
    Py_ssize_t taken = 0;
    for (Py_ssize_t a = 0; a < count; a++) {
        const double least = gain_threshold(between(s->rows + (size_t)a * (size_t)dim, c, dim));
        int64_t last = -1; /* the last point kept so far; the rest of the list keeps its order */
        for (int64_t i = s->head[a], following; i >= 0 && s->near[i] >= least; i = following) {
            following = s->next[i];
            double dist = (double)squared_distance(x + (size_t)i * (size_t)dim, c, dim);
            if (dist < s->near[i]) {
                s->near[i] = dist;
                s->moved[taken].key = dist;
                s->moved[taken++].index = i;
                if (last < 0) s->head[a] = following;
                else s->next[last] = following;
            } else {
                last = i;
            }
        }
    }
    kpp_link(s, count, taken);
    double running = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        running += w[i] * s->near[i];
        s->cum[i] = running;
    }
}

/* The first centre: the point `first`. Returns 1, the centres so far. */
static Py_ssize_t seeding_from_point(Seeding *s, const float *x, Py_ssize_t n, int dim, const double *w,
                                     Py_ssize_t first) {
    const float *p0 = x + (size_t)first * (size_t)dim;
    memcpy(s->rows, p0, sizeof(float) * (size_t)dim);
    s->chosen[0] = first;
    double running = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        s->near[i] = (double)squared_distance(x + (size_t)i * (size_t)dim, p0, dim);
        s->moved[i].key = s->near[i];
        s->moved[i].index = i;
        running += w[i] * s->near[i];
        s->cum[i] = running;
    }
    if (!s->dense) kpp_link(s, 0, n);
    return 1;
}

/* The first `fixed` centres given (float64 (fixed, dim), any feature vectors, as float32 for the
 * distances): each point joins the list of its nearest (the lowest index on a tie). Returns
 * `fixed`, the centres so far; their chosen indices are -1 (no point). */
static Py_ssize_t seeding_from_given(Seeding *s, const float *x, Py_ssize_t n, int dim, const double *w,
                                     const double *given, Py_ssize_t fixed) {
    for (size_t v = 0; v < (size_t)fixed * (size_t)dim; v++) s->rows[v] = (float)given[v];
    double running = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const float *p = x + (size_t)i * (size_t)dim;
        float best = squared_distance(p, s->rows, dim);
        int64_t label = 0;
        for (Py_ssize_t a = 1; a < fixed; a++) {
            float dist = squared_distance(p, s->rows + (size_t)a * (size_t)dim, dim);
            if (dist < best) {
                best = dist;
                label = a;
            }
        }
        s->near[i] = (double)best;
        s->label[i] = label;
        running += w[i] * s->near[i];
        s->cum[i] = running;
    }
    for (Py_ssize_t a = 0; a < fixed; a++) {
        s->chosen[a] = -1;
        if (s->dense) continue;
        Py_ssize_t count = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            if (s->label[i] == a) {
                s->moved[count].key = s->near[i];
                s->moved[count++].index = i;
            }
        kpp_link(s, a, count);
    }
    return fixed;
}

/* Greedy k-means++ from the point `first`, or (fixed > 0) continuing from the `fixed` centres
 * `given`; writes the chosen point indices (-1 for a given centre) and returns how many centres
 * there are (fewer than k when every point is a centre already). The draws of step r (r = 0 for
 * the first centre chosen after the start) are draw[r * t .. r * t + t). */
static Py_ssize_t seeding_run(Seeding *s, const float *x, Py_ssize_t n, int dim, const double *w, Py_ssize_t first,
                              const double *given, Py_ssize_t fixed, const double *draw, Py_ssize_t t, Py_ssize_t k,
                              int64_t *out) {
    Py_ssize_t count = fixed > 0 ? seeding_from_given(s, x, n, dim, w, given, fixed)
                                 : seeding_from_point(s, x, n, dim, w, first);
    const Py_ssize_t begin = count;
    Py_ssize_t cand[64];
    while (count < k && s->cum[n - 1] > 0) {
        const double *step = draw + (size_t)(count - begin) * (size_t)t;
        double total = s->cum[n - 1];
        for (Py_ssize_t j = 0; j < t; j++) {
            double value = step[j] * total;
            Py_ssize_t lo = 0, hi = n;
            while (lo < hi) { /* numpy.searchsorted, side='left' */
                Py_ssize_t mid = lo + (hi - lo) / 2;
                if (s->cum[mid] < value) lo = mid + 1;
                else hi = mid;
            }
            cand[j] = lo < n - 1 ? lo : n - 1;
        }
        Py_ssize_t best = kpp_choose(s, x, n, dim, w, cand, t, count);
        kpp_take(s, x, n, dim, w, cand[best], count, s->dense ? s->row + (size_t)best * (size_t)n : NULL);
        count++;
    }
    memcpy(out, s->chosen, sizeof(int64_t) * (size_t)count);
    return count;
}

/* The work of one call of starts(): every start is independent (its own seeding scratch, its
 * own slice of centers and distances), so starts run on separate threads without changing any
 * result; worker v takes the starts v, v + workers, ... */
typedef struct {
    const double *f;
    const float *x;
    const double *w;
    const int64_t *first;
    const double *draw;
    double *out;
    float *dist;
    Py_ssize_t n;
    int dim;
    Py_ssize_t t, k, count, passes;
    double tol, relax, margin;
    int threads;
    Py_ssize_t workers, fixed;
    int inner; /* threads of each start's Lloyd passes */
    int dense; /* the seeding's steps read every point (see Seeding) */
} StartJob;

typedef struct {
    const StartJob *job;
    Py_ssize_t index;
    int failed;
} StartWorker;

/* One start: greedy k-means++ from first[s] (or from the fixed centres, the first rows of the
 * start's centres), Lloyd passes, and (several starts) each point's distance to its nearest
 * centre for the caller to weigh. 0, or -1 when out of memory. */
static int run_start(const StartJob *j, Py_ssize_t s, Seeding *seeding, int64_t *chosen, float *rows) {
    Py_ssize_t n = j->n, k = j->k, fixed = j->fixed;
    int dim = j->dim;
    double *c = j->out + (size_t)s * (size_t)k * (size_t)dim;
    Py_ssize_t got = seeding_run(seeding, j->x, n, dim, j->w, j->first[s], c, fixed,
                                 j->draw + (size_t)s * (size_t)j->t * (size_t)(k - 1), j->t, k, chosen);
    Py_ssize_t picked = got - fixed; /* the centres chosen among the points */
    for (Py_ssize_t q = fixed; q < k; q++) { /* fewer distinct points than k: repeat (numpy.resize) */
        Py_ssize_t index = picked > 0 ? chosen[fixed + (q - fixed) % picked] : (q - fixed) % n;
        memcpy(c + (size_t)q * (size_t)dim, j->f + (size_t)index * (size_t)dim, sizeof(double) * (size_t)dim);
    }
    if (lloyd_passes(j->f, j->x, j->w, c, n, k, fixed, dim, j->passes, j->tol, j->relax, j->margin, j->inner, NULL) < 0)
        return -1;
    if (j->count == 1) return 0; /* one start: nothing to weigh, distances left unwritten */
    for (size_t v = 0; v < (size_t)k * (size_t)dim; v++) rows[v] = (float)c[v];
    float *dist = j->dist + (size_t)s * (size_t)n;
    if (n * k <= SCAN_MAX || j->dense) { /* the nearest distance by a plain scan (see SCAN_MAX) */
        for (Py_ssize_t i = 0; i < n; i++) {
            const float *p = j->x + (size_t)i * (size_t)dim;
            float best = squared_distance(p, rows, dim);
            for (Py_ssize_t q = 1; q < k; q++) {
                float d = squared_distance(p, rows + (size_t)q * (size_t)dim, dim);
                if (d < best) best = d;
            }
            dist[i] = best;
        }
        return 0;
    }
    Centers sorted;
    if (centers_init(&sorted, rows, k, dim) < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        dist[i] = nearest_one(j->x + (size_t)i * (size_t)dim, &sorted, -1, 0).best;
    centers_free(&sorted);
    return 0;
}

static void *run_starts(void *arg) {
    StartWorker *me = (StartWorker *)arg;
    const StartJob *j = me->job;
    Seeding seeding;
    int64_t *chosen = (int64_t *)malloc(sizeof(int64_t) * (size_t)j->k);
    float *rows = (float *)malloc(sizeof(float) * (size_t)j->k * (size_t)j->dim);
    if (!chosen || !rows || seeding_init(&seeding, j->n, j->dim, j->k) < 0) {
        me->failed = 1;
    } else {
        seeding.dense = j->dense;
        if (j->dense && seeding_columns(&seeding, j->x, j->n, j->dim, j->t) < 0) me->failed = 1;
        for (Py_ssize_t s = me->index; s < j->count && !me->failed; s += j->workers)
            if (run_start(j, s, &seeding, chosen, rows) < 0) me->failed = 1;
        seeding_free(&seeding);
    }
    free(chosen);
    free(rows);
    return NULL;
}

/* starts() on the calling thread, for a caller in C (small_fit(), _engine_small.c): the same
 * fits and distances; 0, or -1 when out of memory. */
int starts_serial(const double *f, const float *x, const double *w, Py_ssize_t n, int dim, const int64_t *first,
                  const double *draw, Py_ssize_t t, Py_ssize_t k, Py_ssize_t count, Py_ssize_t passes, double tol,
                  double relax, double margin, Py_ssize_t fixed, int dense, double *centers, float *distances) {
    StartJob job = {f, x, w, first, draw, centers, distances, n, dim, t, k, count, passes, tol, relax, margin, 1, 1, fixed, 1, dense};
    StartWorker me = {&job, 0, 0};
    run_starts(&me);
    return me.failed ? -1 : 0;
}

/* starts(features, points, n, dim, weights, firsts, draws, t, k, count, passes, tol, relax, margin,
 *        threads, centers, distances[, fixed[, dense]])
 * `count` fits from different starts on one point set, each greedy k-means++ (from firsts[s],
 * with the draws[s] row) then Lloyd (as lloyd()); centers (count, k, dim) float64 receives each
 * fit and distances (count, n) float32 each point's squared distance to its nearest centre of
 * that fit, for the caller to weigh (the lowest inertia wins); with one start, distances are
 * not written. With fixed > 0 the caller puts `fixed` centres (any feature vectors) in the
 * first rows of every start's centers: the seeding continues from them instead of from a first
 * point (firsts[s] is not used), and the Lloyd passes never move them. With dense true each
 * seeding step reads every point in order instead of the lists (the same gains, summed in
 * another order, so last-bit differences may pick another candidate): on a few hundred points
 * the lists' sorting and pointer chasing cost more than they spare. */
PyObject *py_starts(PyObject *self, PyObject *args) {
    PyObject *features, *points, *weights, *firsts, *draws, *centers, *distances;
    Py_ssize_t n, t, k, count, passes, fixed = 0;
    int dense = 0;
    int dim, threads;
    double tol, relax, margin;
    if (!PyArg_ParseTuple(args, "OOniOOOnnnndddiOO|np", &features, &points, &n, &dim, &weights, &firsts, &draws, &t, &k,
                          &count, &passes, &tol, &relax, &margin, &threads, &centers, &distances, &fixed, &dense))
        return NULL;
    if (dim < 1 || dim > MAX_DIM || n < 1 || t < 1 || t > 64 || k < 1 || count < 1 || passes < 0 ||
        !(relax > 0 && relax <= 2) || fixed < 0 || fixed > k) {
        PyErr_SetString(PyExc_ValueError, "starts: bad shape");
        return NULL;
    }
    Buf b[7] = {{0}};
    if (buffer_get(features, &b[0], 0, 8 * dim, n, "features") < 0 || buffer_get(points, &b[1], 0, 4 * dim, n, "points") < 0 ||
        buffer_get(weights, &b[2], 0, 8, n, "weights") < 0 || buffer_get(firsts, &b[3], 0, 8, count, "firsts") < 0 ||
        buffer_get(draws, &b[4], 0, 8 * t * (k - 1), count, "draws") < 0 ||
        buffer_get(centers, &b[5], 1, 8 * dim * k, count, "centers") < 0 ||
        buffer_get(distances, &b[6], 1, 4 * n, count, "distances") < 0) {
        return buffers_done(b, 7, NULL);
    }
    const double *f = (const double *)b[0].view.buf, *w = (const double *)b[2].view.buf;
    const float *x = (const float *)b[1].view.buf;
    const int64_t *first = (const int64_t *)b[3].view.buf;
    const double *draw = (const double *)b[4].view.buf;
    double *out = (double *)b[5].view.buf;
    float *dist = (float *)b[6].view.buf;
    for (Py_ssize_t s = 0; s < count; s++) {
        if (first[s] < 0 || first[s] >= n) {
            PyErr_SetString(PyExc_ValueError, "starts: first point out of range");
            return buffers_done(b, 7, NULL);
        }
    }
    StartJob job = {f, x, w, first, draw, out, dist, n, dim, t, k, count, passes, tol, relax, margin, threads, 0, fixed, 1, dense};
    Py_ssize_t workers = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    if (workers > count) workers = count;
    job.workers = workers;
    job.inner = workers > 1 ? 1 : threads; /* the threads go to the starts, or into each start's passes */
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    StartWorker crew[MAX_THREADS];
    for (Py_ssize_t v = 0; v < workers; v++) {
        crew[v].job = &job;
        crew[v].index = v;
        crew[v].failed = 0;
    }
    in_parallel(run_starts, crew, sizeof(StartWorker), workers);
    for (Py_ssize_t v = 0; v < workers; v++) failed |= crew[v].failed;
    Py_END_ALLOW_THREADS
    return buffers_done(b, 7, failed ? PyErr_NoMemory() : Py_NewRef(Py_None));
}
