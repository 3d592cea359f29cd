/* kmimg._engine: a small colour table's whole fit in one call (small_fit()).
 *
 * An icon's fit (a table of at most a few thousand colours, issue 26) did ~0.4 ms of C work in
 * ~0.8 ms: the rest was numpy calls of a few microseconds each around it (features, the starts'
 * numbers, rounding, the palette's rows, mapping, ordering). small_fit() does the whole of
 * kmimg.colorfit.fit_palette for such a table, in the same floating-point order as that code:
 *
 *   features (the fit's and the plain ones, from the caller's tables of levels), the line test,
 *   the k-means++ starts and their Lloyd passes (starts_serial), the winner by inertia, the
 *   refining and full Lloyd passes (lloyd_passes), the centres back to 8-bit colours (luma
 *   unstretched, gamma undone, rounded), the palette's distinct rows, every colour's nearest
 *   entry, the counts, and the palette ordered by count (_finish).
 *
 * Where numpy's own arithmetic could differ from C's in the last bit, small_fit() does not
 * decide: it returns 0 and the caller runs the numpy path, so the result is always that path's.
 * Those places: the inverse gamma (numpy's float64 power may use SVML, within a few ulp of
 * libm's pow: a colour whose rounding is within 1e-6 of a tie), two starts' inertias within
 * 1e-9 of each other (numpy sums them by einsum, in another order), and the line test (numpy's
 * exact fit of colours on one line: any table whose deviation from a line is not clearly above
 * its threshold). It also returns 0 where the numpy path does something else: a table that is
 * lossless at k (fewer other colours than free entries) or holds a fixed colour.
 */
#include "_engine.h"

/* The fit's luma stretch: out[d] += factor * (unit . f) * unit[d] for the colour axes
 * (colorfit._move_along_luma, its order of operations). */
static inline void move_along_luma(double *f, const double *unit, double factor) {
    double along = f[0] * unit[0] + f[1] * unit[1] + f[2] * unit[2];
    along *= factor;
    for (int d = 0; d < 3; d++) f[d] += along * unit[d];
}

/* The features of one colour (channels 3: levels[c]; 4: the composite over mid-grey from
 * levels[256 a + c], and a), stretched along the luma axis when factor is not 0. */
static inline void features_of(const uint8_t *color, int channels, const double *levels, const double *unit,
                               double factor, double *out) {
    if (channels == 3) {
        for (int d = 0; d < 3; d++) out[d] = levels[color[d]];
    } else {
        size_t row = (size_t)color[3] << 8;
        for (int d = 0; d < 3; d++) out[d] = levels[row + color[d]];
        out[3] = (double)color[3] * 1.0; /* translucency.ALPHA_WEIGHT */
    }
    if (factor != 0.0) move_along_luma(out, unit, factor);
}

/* Whether the rounding of v could depend on the last bits of a power: within 1e-6 of a tie. */
static inline int near_tie(double v) { return fabs(v - floor(v) - 0.5) < 1e-6; }

/* The 8-bit colour of a centre (colorfit._FeatureSpace.colors_of, RGB): unstretched, gamma
 * undone (exponent 0: none), rounded and clipped; 0, or 1 when a rounding is too near a tie to
 * be sure numpy's power would round the same way. */
static int color_of(const double *center, int channels, const double *unit, double unstretch, double exponent,
                    uint8_t *out) {
    double f[4];
    for (int d = 0; d < channels; d++) f[d] = center[d];
    if (unstretch != 0.0) move_along_luma(f, unit, unstretch);
    if (exponent != 0.0)
        for (int d = 0; d < 3; d++) {
            double v = f[d] < 0.0 ? 0.0 : (f[d] > 255.0 ? 255.0 : f[d]);
            f[d] = 255.0 * pow(v / 255.0, exponent);
        }
    if (channels == 3) {
        for (int d = 0; d < 3; d++) {
            if (exponent != 0.0 && near_tie(f[d])) return 1;
            double v = rint(f[d]);
            out[d] = (uint8_t)(v < 0.0 ? 0.0 : (v > 255.0 ? 255.0 : v));
        }
        return 0;
    }
    /* translucency.rgba_colors and straight_colors */
    double alpha = rint(f[3] / 1.0);
    alpha = alpha < 0.0 ? 0.0 : (alpha > 255.0 ? 255.0 : alpha);
    double opacity = (alpha > 0.0 ? alpha : 255.0) / 255.0;
    for (int d = 0; d < 3; d++) {
        double value = (f[d] - (255.0 - alpha) * 0.5) / opacity;
        if (exponent != 0.0 && near_tie(value)) return 1;
        double v = rint(value);
        v = v < 0.0 ? 0.0 : (v > 255.0 ? 255.0 : v);
        out[d] = (uint8_t)(alpha == 0.0 ? 0.0 : v);
    }
    out[3] = (uint8_t)alpha;
    return 0;
}

static inline uint32_t row_key(const uint8_t *c, int channels) {
    uint32_t key = 0;
    for (int d = 0; d < channels; d++) key = (key << 8) | c[d];
    return key;
}

static int compare_keys(const void *a, const void *b) {
    uint32_t p = *(const uint32_t *)a, q = *(const uint32_t *)b;
    return (p > q) - (p < q);
}

/* colorfit._palette_with: the first `fixed` colours as they are, then the other colours'
 * distinct rows in lexicographic order without those equal to a fixed one. Returns the rows. */
static Py_ssize_t palette_with(const uint8_t *colors, Py_ssize_t k, Py_ssize_t fixed, int channels, uint8_t *palette,
                               uint32_t *keys) {
    memcpy(palette, colors, (size_t)fixed * (size_t)channels);
    Py_ssize_t free_count = k - fixed;
    for (Py_ssize_t j = 0; j < free_count; j++) keys[j] = row_key(colors + (size_t)(fixed + j) * (size_t)channels, channels);
    qsort(keys, (size_t)free_count, sizeof(uint32_t), compare_keys);
    Py_ssize_t rows = fixed;
    for (Py_ssize_t j = 0; j < free_count; j++) {
        if (j > 0 && keys[j] == keys[j - 1]) continue;
        int taken = 0;
        for (Py_ssize_t q = 0; q < fixed && !taken; q++) taken = row_key(colors + (size_t)q * (size_t)channels, channels) == keys[j];
        if (taken) continue;
        for (int d = 0; d < channels; d++) palette[(size_t)rows * (size_t)channels + (size_t)d] = (uint8_t)(keys[j] >> (8 * (channels - 1 - d)));
        rows++;
    }
    return rows;
}

/* line_fit.line_positions' decision, with a margin: 1 when the points (and the extra point, if
 * any) are clearly not on one line, 0 when they may be (the caller's numpy path decides). */
static int off_line(const double *points, Py_ssize_t n, int dim, const double *extra) {
    Py_ssize_t total = n + (extra ? 1 : 0);
    const double *origin = points;
    double far_norm = -1.0;
    const double *far = points;
    for (Py_ssize_t i = 0; i < total; i++) {
        const double *p = i < n ? points + (size_t)i * (size_t)dim : extra;
        double norm = 0.0;
        for (int d = 0; d < dim; d++) norm += (p[d] - origin[d]) * (p[d] - origin[d]);
        if (norm > far_norm) {
            far_norm = norm;
            far = p;
        }
    }
    double length = sqrt(far_norm);
    if (!(length > 0.0)) return 0;
    double unit[MAX_DIM];
    for (int d = 0; d < dim; d++) unit[d] = (far[d] - origin[d]) / length;
    for (Py_ssize_t i = 0; i < total; i++) {
        const double *p = i < n ? points + (size_t)i * (size_t)dim : extra;
        double along = 0.0;
        for (int d = 0; d < dim; d++) along += (p[d] - origin[d]) * unit[d];
        for (int d = 0; d < dim; d++)
            if (fabs(p[d] - origin[d] - along * unit[d]) > 1e-6 * length) return 1;
    }
    return 0;
}

/* The fit's inputs. */
typedef struct {
    const uint8_t *colors, *fixed;
    const int64_t *counts;
    const double *fit_levels, *plain_levels, *unit;
    double stretch, unstretch, exponent, tol, relax, margin;
    Py_ssize_t n, m, k, inits, start_passes, refine_passes, full_passes, trials, coarse_grid;
    int channels, mapped_fit, line_check, dense;
    uint64_t seed, stream;
} SmallJob;

/* The fit's outputs: the palette (k, channels), each colour's entry (n,), pixels per entry (k,). */
typedef struct {
    uint8_t *palette;
    int64_t *labels, *counts;
} SmallOut;

typedef struct {
    double *f, *w, *cdf, *numbers, *draws, *centers, *plain, *cells, *mass;
    float *x, *dist, *mapped, *entries, *cols, *cells32;
    int64_t *firsts, *lab, *count, *inverse;
    uint8_t *colors, *rows;
    uint32_t *keys;
} SmallScratch;

static void small_free(SmallScratch *s) {
    free(s->f), free(s->w), free(s->cdf), free(s->numbers), free(s->draws), free(s->centers), free(s->plain),
        free(s->cells), free(s->mass), free(s->cells32), free(s->inverse);
    free(s->x), free(s->dist), free(s->mapped), free(s->entries), free(s->cols);
    free(s->firsts), free(s->lab), free(s->count);
    free(s->colors), free(s->rows), free(s->keys);
}

static int small_init(SmallScratch *s, const SmallJob *j, int dim) {
    size_t n = (size_t)j->n, k = (size_t)j->k, d = (size_t)dim, t = (size_t)j->inits;
    size_t per = 1 + (k - 1) * (size_t)j->trials;
    s->f = (double *)malloc(sizeof(double) * n * d);
    s->w = (double *)malloc(sizeof(double) * n);
    s->cdf = (double *)malloc(sizeof(double) * n);
    s->numbers = (double *)malloc(sizeof(double) * t * per);
    s->draws = (double *)malloc(sizeof(double) * t * per);
    s->centers = (double *)malloc(sizeof(double) * t * k * d);
    s->plain = (double *)malloc(sizeof(double) * (n + 1) * d);
    s->cells = (double *)malloc(sizeof(double) * n * d);
    s->mass = (double *)malloc(sizeof(double) * n);
    s->cells32 = (float *)malloc(sizeof(float) * n * d);
    s->inverse = (int64_t *)malloc(sizeof(int64_t) * n);
    s->x = (float *)malloc(sizeof(float) * n * d);
    s->dist = (float *)malloc(sizeof(float) * t * n);
    s->mapped = (float *)malloc(sizeof(float) * n * d);
    s->entries = (float *)malloc(sizeof(float) * k * d);
    s->cols = (float *)malloc(sizeof(float) * k * d);
    s->firsts = (int64_t *)malloc(sizeof(int64_t) * t);
    s->lab = (int64_t *)malloc(sizeof(int64_t) * n);
    s->count = (int64_t *)malloc(sizeof(int64_t) * k);
    s->colors = (uint8_t *)malloc(k * 4);
    s->rows = (uint8_t *)malloc(k * 4);
    s->keys = (uint32_t *)malloc(sizeof(uint32_t) * k);
    return s->f && s->w && s->cdf && s->cells && s->mass && s->cells32 && s->inverse && s->numbers && s->draws && s->centers && s->plain && s->x && s->dist &&
                   s->mapped && s->entries && s->cols && s->firsts && s->lab && s->count && s->colors && s->rows && s->keys
               ? 0
               : -1;
}

/* The starts' point set (colorfit._reduce_to_cells at the coarse grid): the weighted centroids
 * of the occupied cells, in the cells' order, when there are more than k of them; else the
 * points themselves. Returns the count, or -1 when out of memory. */
static Py_ssize_t coarse_cells(const SmallJob *j, SmallScratch *s, int dim, const double **f, const float **x,
                               const double **w) {
    *f = s->f, *x = s->x, *w = s->w;
    if (!j->coarse_grid) return j->n;
    Py_ssize_t count = grid_cells_of(s->f, j->n, dim, j->coarse_grid, s->inverse);
    if (count < 0) return -1;
    if (count <= j->k) return j->n;
    memset(s->mass, 0, sizeof(double) * (size_t)count); /* colorfit._cluster_sums: in point order */
    memset(s->cells, 0, sizeof(double) * (size_t)count * (size_t)dim);
    for (Py_ssize_t i = 0; i < j->n; i++) {
        int64_t c = s->inverse[i];
        s->mass[c] += s->w[i];
        for (int d = 0; d < dim; d++) s->cells[c * dim + d] += s->w[i] * s->f[(size_t)i * (size_t)dim + (size_t)d];
    }
    for (Py_ssize_t c = 0; c < count; c++)
        for (int d = 0; d < dim; d++) {
            size_t at = (size_t)c * (size_t)dim + (size_t)d;
            s->cells[at] = s->cells[at] / s->mass[c];
            s->cells32[at] = (float)s->cells[at];
        }
    *f = s->cells, *x = s->cells32, *w = s->mass;
    return count;
}

/* How many of the table's colours equal a fixed colour. */
static Py_ssize_t fixed_in_table(const SmallJob *j) {
    Py_ssize_t found = 0;
    for (Py_ssize_t i = 0; i < j->n; i++)
        for (Py_ssize_t q = 0; q < j->m; q++)
            if (!memcmp(j->colors + (size_t)i * (size_t)j->channels, j->fixed + (size_t)q * (size_t)j->channels,
                        (size_t)j->channels)) {
                found++;
                break;
            }
    return found;
}

/* colorfit._best_start's first points: numpy.searchsorted(cdf, u, side="right"), at most n - 1,
 * on the cumulative weights cdf = cumsum(w / sum(w)) / cdf[-1] (integer weights: their sum is
 * exact in any order). */
static void first_points(const double *w, Py_ssize_t n, double *cdf, const double *numbers, Py_ssize_t per,
                         Py_ssize_t count, int64_t *firsts) {
    double total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) total += w[i];
    double run = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        run += w[i] / total;
        cdf[i] = run;
    }
    double last = cdf[n - 1];
    for (Py_ssize_t i = 0; i < n; i++) cdf[i] /= last;
    for (Py_ssize_t s = 0; s < count; s++) {
        double u = numbers[(size_t)s * (size_t)per];
        Py_ssize_t lo = 0, hi = n;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (cdf[mid] <= u) lo = mid + 1;
            else hi = mid;
        }
        firsts[s] = lo < n - 1 ? lo : n - 1;
    }
}

/* The start of lowest inertia (the first on a tie), or -1 when two starts' inertias are too close
 * for this sum's order to decide as numpy's einsum would. */
static Py_ssize_t best_start(const double *w, const float *dist, Py_ssize_t n, Py_ssize_t count) {
    double inertia[64];
    Py_ssize_t best = 0;
    for (Py_ssize_t s = 0; s < count; s++) {
        double sum = 0.0;
        for (Py_ssize_t i = 0; i < n; i++) sum += w[i] * (double)dist[(size_t)s * (size_t)n + (size_t)i];
        inertia[s] = sum;
        if (sum < inertia[best]) best = s;
    }
    for (Py_ssize_t s = 0; s < count; s++) {
        if (s == best) continue;
        const float *a = dist + (size_t)s * (size_t)n, *b = dist + (size_t)best * (size_t)n;
        if (!memcmp(a, b, sizeof(float) * (size_t)n)) continue; /* the same sums in any order */
        if (fabs(inertia[s] - inertia[best]) <= 1e-9 * fabs(inertia[best])) return -1;
    }
    return best;
}

/* colorfit._finish: the used entries (and the first m) by descending count, ties by index;
 * the palette, labels and counts rewritten in that order. Returns the entries kept. */
static Py_ssize_t finish(const uint8_t *rows, Py_ssize_t r, Py_ssize_t m, int channels, const int64_t *count,
                         int64_t *lab, Py_ssize_t n, SmallOut *out) {
    int64_t order[256], remap[256];
    Py_ssize_t used = 0;
    for (Py_ssize_t q = 0; q < r; q++) {
        if (count[q] <= 0 && q >= m) continue;
        Py_ssize_t at = used++;
        while (at > 0 && count[order[at - 1]] < count[q]) { /* stable: equal counts keep index order */
            order[at] = order[at - 1];
            at--;
        }
        order[at] = q;
    }
    for (Py_ssize_t q = 0; q < r; q++) remap[q] = -1;
    for (Py_ssize_t v = 0; v < used; v++) {
        remap[order[v]] = v;
        memcpy(out->palette + (size_t)v * (size_t)channels, rows + (size_t)order[v] * (size_t)channels, (size_t)channels);
        out->counts[v] = count[order[v]];
    }
    for (Py_ssize_t i = 0; i < n; i++) out->labels[i] = remap[lab[i]];
    return used;
}

/* The whole fit; the entries of the palette, 0 when the caller's numpy path must decide, -1 when
 * out of memory. */
static Py_ssize_t small_run(const SmallJob *j, SmallScratch *s, SmallOut *out) {
    const int channels = j->channels, dim = channels;
    const Py_ssize_t n = j->n, m = j->m, k = j->k, per = 1 + (k - 1) * j->trials;
    if (m && fixed_in_table(j)) return 0; /* fewer others, or the swapped start: numpy path */
    for (Py_ssize_t i = 0; i < n; i++)
        features_of(j->colors + (size_t)i * (size_t)channels, channels, j->plain_levels, j->unit, 0.0,
                    s->plain + (size_t)i * (size_t)dim);
    if (j->line_check) {
        double pinned[4];
        if (m) features_of(j->fixed, channels, j->plain_levels, j->unit, 0.0, pinned);
        if (!off_line(s->plain, n, dim, m ? pinned : NULL)) return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double *f = s->f + (size_t)i * (size_t)dim;
        features_of(j->colors + (size_t)i * (size_t)channels, channels, j->fit_levels, j->unit, j->stretch, f);
        for (int d = 0; d < dim; d++) s->x[(size_t)i * (size_t)dim + (size_t)d] = (float)f[d];
        s->w[i] = (double)j->counts[i];
    }
    /* the starts (colorfit._best_start), on the coarse cells or on the points */
    const double *start_f, *start_w;
    const float *start_x;
    Py_ssize_t points = coarse_cells(j, s, dim, &start_f, &start_x, &start_w);
    if (points < 0) return -1;
    fill_uniforms(j->seed, j->stream, s->numbers, j->inits * per);
    first_points(start_w, points, s->cdf, s->numbers, per, j->inits, s->firsts);
    for (Py_ssize_t v = 0; v < j->inits; v++) {
        memcpy(s->draws + (size_t)v * (size_t)(per - 1), s->numbers + (size_t)v * (size_t)per + 1,
               sizeof(double) * (size_t)(per - 1));
        for (Py_ssize_t q = 0; q < m; q++)
            features_of(j->fixed + (size_t)q * (size_t)channels, channels, j->fit_levels, j->unit, j->stretch,
                        s->centers + ((size_t)v * (size_t)k + (size_t)q) * (size_t)dim);
    }
    if (starts_serial(start_f, start_x, start_w, points, dim, s->firsts, s->draws, j->trials, k, j->inits,
                      j->start_passes, j->tol, j->relax, j->margin, m, j->dense, s->centers, s->dist) < 0)
        return -1;
    Py_ssize_t best = j->inits == 1 ? 0 : best_start(start_w, s->dist, points, j->inits);
    if (best < 0) return 0;
    double *centers = s->centers + (size_t)best * (size_t)k * (size_t)dim;
    /* the winner refined, then the passes over every colour (here the same points) */
    if (j->refine_passes > 0 &&
        lloyd_passes(s->f, s->x, s->w, centers, n, k, m, dim, j->refine_passes, j->tol, j->relax, j->margin, 1, NULL) < 0)
        return -1;
    if (lloyd_passes(s->f, s->x, s->w, centers, n, k, m, dim, j->full_passes, j->tol, j->relax, j->margin, 1, NULL) < 0)
        return -1;
    for (Py_ssize_t q = 0; q < k; q++) {
        uint8_t *c = s->colors + (size_t)q * (size_t)channels;
        if (q < m) memcpy(c, j->fixed + (size_t)q * (size_t)channels, (size_t)channels);
        else if (color_of(centers + (size_t)q * (size_t)dim, channels, j->unit, j->unstretch, j->exponent, c)) return 0;
    }
    Py_ssize_t r = palette_with(s->colors, k, m, channels, s->rows, s->keys);
    /* every colour's nearest entry, by the mapping distance (float32, ties to the lowest index) */
    const double *levels = j->mapped_fit ? j->fit_levels : j->plain_levels;
    double factor = j->mapped_fit ? j->stretch : 0.0, entry[4];
    for (Py_ssize_t q = 0; q < r; q++) {
        features_of(s->rows + (size_t)q * (size_t)channels, channels, levels, j->unit, factor, entry);
        for (int d = 0; d < dim; d++) s->entries[(size_t)q * (size_t)dim + (size_t)d] = (float)entry[d];
    }
    const double *source = j->mapped_fit ? s->f : s->plain;
    for (size_t v = 0; v < (size_t)n * (size_t)dim; v++) s->mapped[v] = (float)source[v];
    memset(s->count, 0, sizeof(int64_t) * (size_t)r);
    centre_columns(s->entries, r, dim, s->cols);
    for (Py_ssize_t i = 0; i < n; i++) {
        Nearest found = scan_nearest_cols(s->mapped + (size_t)i * (size_t)dim, s->cols, r, dim);
        s->lab[i] = found.label;
        s->count[found.label] += j->counts[i];
    }
    return finish(s->rows, r, m, channels, s->count, s->lab, n, out);
}

/* small_fit(colors, n, channels, counts, fixed, m, fit_levels, plain_levels, unit, stretch, unstretch,
 *           exponent, k, mapped_fit, line_check, inits, start_passes, dense, refine_passes, full_passes,
 *           trials, coarse_grid, tol, relax, margin, seed, stream, palette, labels, out_counts)
 *
 * kmimg.colorfit.fit_palette of a table of n colours (uint8 (n, channels), channels 3 or 4, RGB
 * space) with pixel counts (int64 (n,)), all of them the fit set (no sample, no grid cells), and
 * m fixed colours (uint8 (m, channels)), on the schedule the caller read from its FitSchedule:
 * fit_levels / plain_levels float64 (256,) for channels 3 (each level's feature) or (65536,) for
 * 4 (the composite over mid-grey of level c at alpha a at 256 a + c), unit the luma direction
 * (3,), stretch / unstretch the fit space's luma factors (0: none), exponent its inverse gamma
 * (0: none), mapped_fit whether colours are mapped in the fit space (else the plain one),
 * line_check whether the table is tested for a line first, the starts (inits of start_passes
 * passes, dense seeding, trials candidates a step, on the cells of a coarse_grid-level grid when
 * not 0 and they are more than k), the winner's refine_passes on every colour (0: none) and the
 * full_passes (>= 1), and the random numbers' seed and stream.
 *
 * Writes the palette (uint8 (k, channels), its first rows), each colour's entry (int64 (n,))
 * and the pixels per entry (int64 (k,), its first rows), in _finish's order; returns how many
 * entries, or 0 when the numpy path must fit this table (see the top of this file). */
PyObject *py_small_fit(PyObject *self, PyObject *args) {
    PyObject *colors, *counts, *fixed, *fit_levels, *plain_levels, *unit, *palette, *labels, *out_counts;
    SmallJob j;
    int dense, mapped_fit, line_check;
    unsigned long long seed, stream;
    if (!PyArg_ParseTuple(args, "OniOOnOOOdddnppnnpnnnndddKKOOO", &colors, &j.n, &j.channels, &counts, &fixed, &j.m,
                          &fit_levels, &plain_levels, &unit, &j.stretch, &j.unstretch, &j.exponent, &j.k, &mapped_fit,
                          &line_check, &j.inits, &j.start_passes, &dense, &j.refine_passes, &j.full_passes, &j.trials, &j.coarse_grid,
                          &j.tol, &j.relax, &j.margin, &seed, &stream, &palette, &labels, &out_counts))
        return NULL;
    if ((j.channels != 3 && j.channels != 4) || j.n < 2 || j.k < 1 || j.k > 256 || j.k >= j.n || j.m < 0 ||
        j.m > j.k || j.inits < 1 || j.inits > 64 || j.start_passes < 0 || j.refine_passes < 0 || j.full_passes < 1 ||
        j.trials < 1 || j.trials > 64 || j.coarse_grid < 0 || j.coarse_grid > 4096 || !(j.relax > 0 && j.relax <= 2)) {
        PyErr_SetString(PyExc_ValueError, "small_fit: bad shape");
        return NULL;
    }
    j.dense = dense, j.mapped_fit = mapped_fit, j.line_check = line_check, j.seed = seed, j.stream = stream;
    Py_ssize_t levels = j.channels == 3 ? 256 : 65536;
    Buf b[9] = {{0}};
    if (buffer_get(colors, &b[0], 0, j.channels, j.n, "colors") < 0 || buffer_get(counts, &b[1], 0, 8, j.n, "counts") < 0 ||
        buffer_get(fixed, &b[2], 0, j.channels, j.m, "fixed") < 0 ||
        buffer_get(fit_levels, &b[3], 0, 8, levels, "fit_levels") < 0 ||
        buffer_get(plain_levels, &b[4], 0, 8, levels, "plain_levels") < 0 || buffer_get(unit, &b[5], 0, 8, 3, "unit") < 0 ||
        buffer_get(palette, &b[6], 1, j.channels, j.k, "palette") < 0 || buffer_get(labels, &b[7], 1, 8, j.n, "labels") < 0 ||
        buffer_get(out_counts, &b[8], 1, 8, j.k, "out_counts") < 0) {
        return buffers_done(b, 9, NULL);
    }
    j.colors = (const uint8_t *)b[0].view.buf, j.counts = (const int64_t *)b[1].view.buf;
    j.fixed = (const uint8_t *)b[2].view.buf, j.fit_levels = (const double *)b[3].view.buf;
    j.plain_levels = (const double *)b[4].view.buf, j.unit = (const double *)b[5].view.buf;
    SmallOut out = {(uint8_t *)b[6].view.buf, (int64_t *)b[7].view.buf, (int64_t *)b[8].view.buf};
    Py_ssize_t done;
    Py_BEGIN_ALLOW_THREADS
    SmallScratch s;
    memset(&s, 0, sizeof s);
    done = small_init(&s, &j, j.channels) < 0 ? -1 : small_run(&j, &s, &out);
    small_free(&s);
    Py_END_ALLOW_THREADS
    return buffers_done(b, 9, done < 0 ? PyErr_NoMemory() : PyLong_FromSsize_t(done));
}
