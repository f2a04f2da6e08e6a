/* The compiled parts of the NAS-Bench-101 reader (optional: each has a numpy/Python twin).
 *
 * - MD5 (RFC 1321) of many short messages. NAS-Bench-101's cell hash takes millions of MD5s
 *   of messages under 300 bytes; Python's per-call cost (about 0.7 us) dominates it. Messages
 *   with the same number of 64-byte blocks share each instruction, sixteen at a time: the
 *   compression function runs on vectors of sixteen 32-bit words (GCC vector extensions: AVX2
 *   where the CPU has it, chosen at run time, two SSE2 halves otherwise).
 *     md5_rows(buffer, count, width) -> count * 16 digest bytes of the rows of a byte matrix
 *     hash_cells(edges, labels, sizes, count, width) -> graph_util.hash_module of pruned cells
 *     prune_cells(...) -> graph.prune_cells of many padded cells
 * - TFRecord framing: walk_tfrecord(data) -> (lengths, last start); crc32c_ranges(data,
 *   starts, lengths) -> the CRC32C of each range (SSE4.2 instruction where present).
 * - b64decode_ranges(data, starts, count, length): strict base64 of many texts of one length.
 * The GIL is released while they run.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LANES 16
#define BLOCK 64
typedef uint32_t words_t __attribute__((vector_size(4 * LANES)));

static uint32_t sines[64]; /* K[i] = floor(|sin(i + 1)| * 2^32), RFC 1321 section 3.4 */
static const int shifts[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
static const uint32_t initial_state[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};

static int message_word(int step) {
    if (step < 16) return step;
    if (step < 32) return (5 * step + 1) % 16;
    if (step < 48) return (3 * step + 5) % 16;
    return (7 * step) % 16;
}

static inline __attribute__((always_inline)) words_t rotate_left(words_t value, int bits) {
    return (value << bits) | (value >> (32 - bits));
}

static inline uint32_t load_le32(const unsigned char *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

static inline void store_le32(unsigned char *bytes, uint32_t value) {
    bytes[0] = (unsigned char)value;
    bytes[1] = (unsigned char)(value >> 8);
    bytes[2] = (unsigned char)(value >> 16);
    bytes[3] = (unsigned char)(value >> 24);
}

static inline __attribute__((always_inline)) void compress(words_t state[4], const words_t block[16]) {
    words_t a = state[0], b = state[1], c = state[2], d = state[3];
#pragma GCC unroll 64
    for (int step = 0; step < 64; step++) {
        words_t mixed;
        if (step < 16) mixed = (b & c) | (~b & d);
        else if (step < 32) mixed = (d & b) | (~d & c);
        else if (step < 48) mixed = b ^ c ^ d;
        else mixed = c ^ (b | ~d);
        mixed = mixed + a + sines[step] + block[message_word(step)];
        a = d;
        d = c;
        c = b;
        b = b + rotate_left(mixed, shifts[step]);
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
}

/* Digests of the first `lanes` (1..LANES) rows at `rows` into `digests`; idle lanes hash the
 * last row again, unstored. padded: LANES buffers of n_blocks * BLOCK bytes, their padding
 * already written. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void hash_lanes(const unsigned char *rows, Py_ssize_t lanes, Py_ssize_t width,
                       unsigned char *padded, Py_ssize_t n_blocks, unsigned char *digests) {
    words_t state[4], block[16];
    uint32_t words[16][LANES] __attribute__((aligned(32)));
    Py_ssize_t padded_size = n_blocks * BLOCK;
    for (int lane = 0; lane < LANES; lane++) {
        Py_ssize_t row = lane < lanes ? lane : lanes - 1;
        memcpy(padded + lane * padded_size, rows + row * width, (size_t)width);
    }
    for (int word = 0; word < 4; word++)
        for (int lane = 0; lane < LANES; lane++) state[word][lane] = initial_state[word];
    for (Py_ssize_t index = 0; index < n_blocks; index++) {
        for (int lane = 0; lane < LANES; lane++) {
            const unsigned char *bytes = padded + lane * padded_size + index * BLOCK;
            for (int word = 0; word < 16; word++) words[word][lane] = load_le32(bytes + 4 * word);
        }
        for (int word = 0; word < 16; word++) memcpy(&block[word], words[word], sizeof(words_t));
        compress(state, block);
    }
    for (int lane = 0; lane < lanes; lane++)
        for (int word = 0; word < 4; word++)
            store_le32(digests + lane * 16 + 4 * word, state[word][lane]);
}

static void write_padding(unsigned char *padded, Py_ssize_t width, Py_ssize_t n_blocks) {
    Py_ssize_t padded_size = n_blocks * BLOCK;
    uint64_t bit_length = (uint64_t)width * 8;
    for (int lane = 0; lane < LANES; lane++) {
        unsigned char *message = padded + lane * padded_size;
        memset(message + width, 0, (size_t)(padded_size - width));
        message[width] = 0x80;
        for (int byte = 0; byte < 8; byte++)
            message[padded_size - 8 + byte] = (unsigned char)(bit_length >> (8 * byte));
    }
}

static PyObject *md5_rows(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t count, width;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &count, &width)) return NULL;
    if (count < 0 || width < 0 || view.len < count * width) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "buffer holds fewer than count * width bytes");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, count * 16);
    Py_ssize_t n_blocks = (width + 8) / BLOCK + 1;
    unsigned char *padded = result ? PyMem_RawMalloc((size_t)(LANES * n_blocks * BLOCK)) : NULL;
    if (result && !padded) {
        Py_DECREF(result);
        result = PyErr_NoMemory();
    }
    if (result) {
        const unsigned char *rows = view.buf;
        unsigned char *digests = (unsigned char *)PyBytes_AS_STRING(result);
        Py_BEGIN_ALLOW_THREADS
        write_padding(padded, width, n_blocks);
        for (Py_ssize_t first = 0; first < count; first += LANES)
            hash_lanes(rows + first * width, count - first < LANES ? count - first : LANES,
                       width, padded, n_blocks, digests + 16 * first);
        Py_END_ALLOW_THREADS
        PyMem_RawFree(padded);
    }
    PyBuffer_Release(&view);
    return result;
}

static const char hex_digits[] = "0123456789abcdef";

static unsigned char *write_hex(unsigned char *out, const unsigned char *digest) {
    for (int byte = 0; byte < 16; byte++) {
        *out++ = (unsigned char)hex_digits[digest[byte] >> 4];
        *out++ = (unsigned char)hex_digits[digest[byte] & 15];
    }
    return out;
}

/* ---- graph_util.hash_module of many pruned cells ------------------------------------------
 * Messages wait in one queue per block count; a full queue (sixteen messages) is hashed at once
 * and each digest written where its message asked: as hex (a vertex hash) or raw (a cell's).
 * Cells are taken in batches and advanced round by round, so a round's messages of the whole
 * batch fill the queues; rounds read one buffer of vertex hashes and write the other. */
#define MAX_BLOCKS 72 /* messages up to 4600 bytes: cells of up to 64 vertices */
#define CELL_BATCH 2048

typedef struct {
    Py_ssize_t n_blocks;
    int pending;
    unsigned char *buffers; /* LANES buffers of n_blocks * BLOCK bytes */
    unsigned char *targets[LANES];
    int raw[LANES];
} queue_t;

static inline __attribute__((always_inline)) void queue_hash(queue_t *queue) {
    words_t state[4], block[16];
    uint32_t words[16][LANES] __attribute__((aligned(32)));
    Py_ssize_t size = queue->n_blocks * BLOCK;
    for (int word = 0; word < 4; word++)
        for (int lane = 0; lane < LANES; lane++) state[word][lane] = initial_state[word];
    for (Py_ssize_t index = 0; index < queue->n_blocks; index++) {
        for (int lane = 0; lane < LANES; lane++) {
            const unsigned char *bytes = queue->buffers + lane * size + index * BLOCK;
            for (int word = 0; word < 16; word++) words[word][lane] = load_le32(bytes + 4 * word);
        }
        for (int word = 0; word < 16; word++) memcpy(&block[word], words[word], sizeof(words_t));
        compress(state, block);
    }
    for (int lane = 0; lane < queue->pending; lane++) {
        unsigned char digest[16];
        for (int word = 0; word < 4; word++) store_le32(digest + 4 * word, state[word][lane]);
        if (queue->raw[lane]) memcpy(queue->targets[lane], digest, 16);
        else write_hex(queue->targets[lane], digest);
    }
    queue->pending = 0;
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void queue_flush(queue_t *queue) {
    if (queue->pending) queue_hash(queue);
}

/* The lane's buffer to write a message of `length` bytes into; padding is written here. */
static unsigned char *queue_slot(queue_t *queues, Py_ssize_t length, unsigned char *target,
                                 int raw) {
    queue_t *queue = &queues[(length + 8) / BLOCK + 1];
    if (queue->pending == LANES) queue_flush(queue);
    int lane = queue->pending++;
    Py_ssize_t size = queue->n_blocks * BLOCK;
    unsigned char *message = queue->buffers + lane * size;
    uint64_t bit_length = (uint64_t)length * 8;
    memset(message + length, 0, (size_t)(size - length));
    message[length] = 0x80;
    for (int byte = 0; byte < 8; byte++)
        message[size - 8 + byte] = (unsigned char)(bit_length >> (8 * byte));
    queue->targets[lane] = target;
    queue->raw[lane] = raw;
    return message;
}

static void sort_hexes(const unsigned char **hexes, int n) {
    for (int i = 1; i < n; i++) {
        const unsigned char *hex = hexes[i];
        int j = i;
        while (j > 0 && memcmp(hexes[j - 1], hex, 32) > 0) {
            hexes[j] = hexes[j - 1];
            j--;
        }
        hexes[j] = hex;
    }
}

static unsigned char *copy_hexes(unsigned char *out, const unsigned char **hexes, int n) {
    for (int i = 0; i < n; i++, out += 32) memcpy(out, hexes[i], 32);
    return out;
}

typedef struct {
    const unsigned char *edges; /* count * width * width */
    const int64_t *labels;      /* count * width */
    const int64_t *sizes;
    Py_ssize_t width;
    unsigned char *digests;     /* count * 16 */
} cells_t;

static void hash_batch(const cells_t *cells, Py_ssize_t first, Py_ssize_t last,
                       queue_t *queues, unsigned char *old_hex, unsigned char *new_hex) {
    Py_ssize_t width = cells->width;
    int rounds = 0;
    char text[96];
    for (Py_ssize_t cell = first; cell < last; cell++) { /* round 0: str((out, in, label)) */
        const unsigned char *edges = cells->edges + cell * width * width;
        int size = (int)cells->sizes[cell];
        rounds = size > rounds ? size : rounds;
        for (int v = 0; v < size; v++) {
            int in_degree = 0, out_degree = 0;
            for (int w = 0; w < size; w++) {
                in_degree += edges[w * width + v] != 0;
                out_degree += edges[v * width + w] != 0;
            }
            int length = snprintf(text, sizeof text, "(%d, %d, %lld)", out_degree, in_degree,
                                  (long long)cells->labels[cell * width + v]);
            unsigned char *target = new_hex + ((cell - first) * width + v) * 32;
            memcpy(queue_slot(queues, length, target, 0), text, (size_t)length);
        }
    }
    for (int round = 0; round <= rounds; round++) {
        for (Py_ssize_t n = 1; n < MAX_BLOCKS; n++) queue_flush(&queues[n]);
        unsigned char *swap = old_hex;
        old_hex = new_hex;
        new_hex = swap;
        for (Py_ssize_t cell = first; cell < last; cell++) {
            const unsigned char *edges = cells->edges + cell * width * width;
            const unsigned char *hexes = old_hex + (cell - first) * width * 32;
            int size = (int)cells->sizes[cell];
            const unsigned char *ins[64], *outs[64];
            if (round == size) { /* str(sorted(hashes)): "['h1', 'h2']" */
                for (int v = 0; v < size; v++) ins[v] = hexes + v * 32;
                sort_hexes(ins, size);
                Py_ssize_t length = size ? 2 + 34 * size + 2 * (size - 1) : 2;
                unsigned char *out = queue_slot(queues, length, cells->digests + cell * 16, 1);
                *out++ = '[';
                for (int v = 0; v < size; v++) {
                    if (v) { *out++ = ','; *out++ = ' '; }
                    *out++ = '\'';
                    memcpy(out, ins[v], 32);
                    out += 32;
                    *out++ = '\'';
                }
                *out = ']';
            }
            if (round >= size) continue;
            for (int v = 0; v < size; v++) {
                int n_in = 0, n_out = 0;
                for (int w = 0; w < size; w++) {
                    if (edges[w * width + v]) ins[n_in++] = hexes + w * 32;
                    if (edges[v * width + w]) outs[n_out++] = hexes + w * 32;
                }
                sort_hexes(ins, n_in);
                sort_hexes(outs, n_out);
                Py_ssize_t length = 32 * (n_in + n_out + 1) + 2;
                unsigned char *target = new_hex + ((cell - first) * width + v) * 32;
                unsigned char *out = copy_hexes(queue_slot(queues, length, target, 0), ins, n_in);
                *out++ = '|';
                out = copy_hexes(out, outs, n_out);
                *out++ = '|';
                memcpy(out, hexes + v * 32, 32);
            }
        }
    }
}

static PyObject *hash_cells(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer edges_view, labels_view, sizes_view;
    Py_ssize_t count, width;
    if (!PyArg_ParseTuple(args, "y*y*y*nn", &edges_view, &labels_view, &sizes_view, &count,
                          &width))
        return NULL;
    PyObject *result = NULL;
    const int64_t *sizes = sizes_view.buf;
    int fits = count >= 0 && width >= 0 && width <= 64 &&
               edges_view.len >= count * width * width &&
               labels_view.len >= count * width * (Py_ssize_t)sizeof(int64_t) &&
               sizes_view.len >= count * (Py_ssize_t)sizeof(int64_t);
    for (Py_ssize_t cell = 0; fits && cell < count; cell++)
        fits = sizes[cell] >= 0 && sizes[cell] <= width;
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "hash_cells: buffers do not match the shapes given");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, count * 16);
    queue_t queues[MAX_BLOCKS];
    memset(queues, 0, sizeof queues);
    Py_ssize_t hex_size = CELL_BATCH * (width ? width : 1) * 32;
    unsigned char *old_hex = result ? PyMem_RawMalloc((size_t)hex_size) : NULL;
    unsigned char *new_hex = old_hex ? PyMem_RawMalloc((size_t)hex_size) : NULL;
    int allocated = new_hex != NULL;
    for (Py_ssize_t n = 1; allocated && n < MAX_BLOCKS; n++) {
        queues[n].n_blocks = n;
        queues[n].buffers = PyMem_RawMalloc((size_t)(LANES * n * BLOCK));
        allocated = queues[n].buffers != NULL;
    }
    if (result && allocated) {
        cells_t cells = {edges_view.buf, labels_view.buf, sizes, width,
                         (unsigned char *)PyBytes_AS_STRING(result)};
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t first = 0; first < count; first += CELL_BATCH) {
            Py_ssize_t last = count - first < CELL_BATCH ? count : first + CELL_BATCH;
            hash_batch(&cells, first, last, queues, old_hex, new_hex);
            for (Py_ssize_t n = 1; n < MAX_BLOCKS; n++) queue_flush(&queues[n]);
        }
        Py_END_ALLOW_THREADS
    } else if (result) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
    for (Py_ssize_t n = 1; n < MAX_BLOCKS; n++) PyMem_RawFree(queues[n].buffers);
    PyMem_RawFree(old_hex);
    PyMem_RawFree(new_hex);
done:
    PyBuffer_Release(&edges_view);
    PyBuffer_Release(&labels_view);
    PyBuffer_Release(&sizes_view);
    return result;
}

/* ---- graph.prune_cells: keep the vertices on an input -> output path ------------------------
 * prune_cells(edges, labels, sizes, well_formed, count, width, input, output, unknown) ->
 * (edges, labels, kept, valid) as bytes: the same arrays as the numpy version. */
static void prune_one(const unsigned char *edges, const int64_t *labels, int64_t size,
                      unsigned char well_formed, Py_ssize_t width, int64_t input_label,
                      int64_t output_label, int64_t unknown_label, unsigned char *new_edges,
                      int64_t *new_labels, int64_t *kept_out, unsigned char *valid_out) {
    unsigned char from_input[64] = {0}, to_output[64] = {0};
    int valid = well_formed != 0;
    for (Py_ssize_t v = 0; v < width; v++)
        for (Py_ssize_t w = 0; w <= v; w++) valid &= edges[v * width + w] == 0;
    from_input[0] = 1;
    to_output[size > 0 ? size - 1 : 0] = 1;
    for (Py_ssize_t pass = 0; pass < width; pass++) /* as many passes as the numpy version */
        for (Py_ssize_t v = 0; v < width; v++)
            for (Py_ssize_t w = 0; w < width; w++)
                if (edges[v * width + w]) {
                    from_input[w] |= from_input[v];
                    to_output[v] |= to_output[w];
                }
    Py_ssize_t order[64], kept = 0;
    for (Py_ssize_t v = 0; v < width; v++)
        if (from_input[v] && to_output[v] && v < size) order[kept++] = v;
    valid &= kept >= 2;
    Py_ssize_t next = kept;
    for (Py_ssize_t v = 0; v < width; v++)
        if (!(from_input[v] && to_output[v] && v < size)) order[next++] = v;
    for (Py_ssize_t v = 0; v < width; v++) {
        new_labels[v] = labels[order[v]];
        for (Py_ssize_t w = 0; w < width; w++)
            new_edges[v * width + w] = v < kept && w < kept && edges[order[v] * width + order[w]];
    }
    new_labels[0] = input_label;
    new_labels[kept > 0 ? kept - 1 : 0] = output_label;
    for (Py_ssize_t v = 0; v < kept; v++) valid &= new_labels[v] != unknown_label;
    *kept_out = kept;
    *valid_out = (unsigned char)valid;
}

static PyObject *prune_cells(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer edges_view, labels_view, sizes_view, formed_view;
    Py_ssize_t count, width;
    long long input_label, output_label, unknown_label;
    if (!PyArg_ParseTuple(args, "y*y*y*y*nnLLL", &edges_view, &labels_view, &sizes_view,
                          &formed_view, &count, &width, &input_label, &output_label,
                          &unknown_label))
        return NULL;
    PyObject *result = NULL;
    if (count < 0 || width < 1 || width > 64 || edges_view.len < count * width * width ||
        labels_view.len < count * width * (Py_ssize_t)sizeof(int64_t) ||
        sizes_view.len < count * (Py_ssize_t)sizeof(int64_t) || formed_view.len < count) {
        PyErr_SetString(PyExc_ValueError, "prune_cells: buffers do not match the shapes given");
        goto done;
    }
    PyObject *edges = PyBytes_FromStringAndSize(NULL, count * width * width);
    PyObject *labels = PyBytes_FromStringAndSize(NULL, count * width * sizeof(int64_t));
    PyObject *kept = PyBytes_FromStringAndSize(NULL, count * sizeof(int64_t));
    PyObject *valid = PyBytes_FromStringAndSize(NULL, count);
    if (edges && labels && kept && valid) {
        const unsigned char *old_edges = edges_view.buf, *formed = formed_view.buf;
        const int64_t *old_labels = labels_view.buf, *sizes = sizes_view.buf;
        unsigned char *new_edges = (unsigned char *)PyBytes_AS_STRING(edges);
        int64_t *new_labels = (int64_t *)PyBytes_AS_STRING(labels);
        int64_t *new_kept = (int64_t *)PyBytes_AS_STRING(kept);
        unsigned char *new_valid = (unsigned char *)PyBytes_AS_STRING(valid);
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t cell = 0; cell < count; cell++) {
            int64_t size = sizes[cell] < 0 ? 0 : sizes[cell] > width ? width : sizes[cell];
            prune_one(old_edges + cell * width * width, old_labels + cell * width, size,
                      formed[cell], width, input_label, output_label, unknown_label,
                      new_edges + cell * width * width, new_labels + cell * width,
                      new_kept + cell, new_valid + cell);
        }
        Py_END_ALLOW_THREADS
        result = PyTuple_Pack(4, edges, labels, kept, valid);
    }
    Py_XDECREF(edges);
    Py_XDECREF(labels);
    Py_XDECREF(kept);
    Py_XDECREF(valid);
done:
    PyBuffer_Release(&edges_view);
    PyBuffer_Release(&labels_view);
    PyBuffer_Release(&sizes_view);
    PyBuffer_Release(&formed_view);
    return result;
}

/* ---- TFRecord framing ------------------------------------------------------------------------
 * walk_tfrecord(data) -> (lengths, last_start): the uint64 length of every record header met
 * walking the file (8 bytes at least left at each), and where the last of them starts (-1 if
 * none); the caller checks lengths against the file. crc32c_ranges(data, starts, lengths) ->
 * uint32 CRC32C (Castagnoli) of each range. */
static uint32_t crc_table[8][256];

static void crc_tables(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        crc_table[0][byte] = crc;
    }
    for (uint32_t byte = 0; byte < 256; byte++)
        for (int slice = 1; slice < 8; slice++)
            crc_table[slice][byte] = (crc_table[slice - 1][byte] >> 8) ^
                                     crc_table[0][crc_table[slice - 1][byte] & 0xFF];
}

static uint32_t crc32c_table(const unsigned char *data, Py_ssize_t length) {
    uint32_t crc = 0xFFFFFFFFu;
    for (; length >= 8; data += 8, length -= 8) {
        uint32_t low = crc ^ load_le32(data), high = load_le32(data + 4);
        crc = crc_table[7][low & 0xFF] ^ crc_table[6][(low >> 8) & 0xFF] ^
              crc_table[5][(low >> 16) & 0xFF] ^ crc_table[4][low >> 24] ^
              crc_table[3][high & 0xFF] ^ crc_table[2][(high >> 8) & 0xFF] ^
              crc_table[1][(high >> 16) & 0xFF] ^ crc_table[0][high >> 24];
    }
    while (length--) crc = crc_table[0][(crc ^ *data++) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_CRC_INSTRUCTION 1
__attribute__((target("sse4.2"))) static uint32_t crc32c_instruction(const unsigned char *data,
                                                                      Py_ssize_t length) {
    uint64_t crc = 0xFFFFFFFFu;
    for (; length >= 8; data += 8, length -= 8) {
        uint64_t word;
        memcpy(&word, data, 8);
        crc = __builtin_ia32_crc32di(crc, word);
    }
    uint32_t crc32 = (uint32_t)crc;
    while (length--) crc32 = __builtin_ia32_crc32qi(crc32, *data++);
    return crc32 ^ 0xFFFFFFFFu;
}
#endif

static PyObject *crc32c_ranges(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data_view, starts_view, lengths_view;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*y*y*n", &data_view, &starts_view, &lengths_view, &count))
        return NULL;
    PyObject *result = NULL;
    const int64_t *starts = starts_view.buf, *lengths = lengths_view.buf;
    int fits = count >= 0 && starts_view.len >= count * (Py_ssize_t)sizeof(int64_t) &&
               lengths_view.len >= count * (Py_ssize_t)sizeof(int64_t);
    for (Py_ssize_t i = 0; fits && i < count; i++)
        fits = starts[i] >= 0 && lengths[i] >= 0 && starts[i] <= data_view.len &&
               lengths[i] <= data_view.len - starts[i];
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "crc32c_ranges: a range lies outside the data");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, count * 4);
    if (result) {
        const unsigned char *data = data_view.buf;
        uint32_t *crcs = (uint32_t *)PyBytes_AS_STRING(result);
        Py_BEGIN_ALLOW_THREADS
#ifdef HAVE_CRC_INSTRUCTION
        if (__builtin_cpu_supports("sse4.2"))
            for (Py_ssize_t i = 0; i < count; i++)
                crcs[i] = crc32c_instruction(data + starts[i], lengths[i]);
        else
#endif
            for (Py_ssize_t i = 0; i < count; i++)
                crcs[i] = crc32c_table(data + starts[i], lengths[i]);
        Py_END_ALLOW_THREADS
    }
done:
    PyBuffer_Release(&data_view);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&lengths_view);
    return result;
}

static PyObject *walk_tfrecord(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *data = view.buf;
    uint64_t size = (uint64_t)view.len, position = 0;
    int64_t last_start = -1;
    Py_ssize_t count = 0, capacity = 1024;
    uint64_t *lengths = PyMem_RawMalloc(capacity * sizeof(uint64_t));
    PyObject *result = NULL;
    while (lengths && position + 8 <= size) {
        if (count == capacity) {
            uint64_t *grown = PyMem_RawRealloc(lengths, 2 * capacity * sizeof(uint64_t));
            if (!grown) {
                PyMem_RawFree(lengths);
                lengths = NULL;
                break;
            }
            lengths = grown;
            capacity *= 2;
        }
        uint64_t length = (uint64_t)load_le32(data + position) |
                          (uint64_t)load_le32(data + position + 4) << 32;
        lengths[count++] = length;
        last_start = (int64_t)position;
        if (length > size) break; /* the walk is past the end: no further header */
        position += length + 16;
    }
    if (lengths) {
        PyObject *packed = PyBytes_FromStringAndSize((const char *)lengths,
                                                     count * (Py_ssize_t)sizeof(uint64_t));
        if (packed) result = Py_BuildValue("(NL)", packed, (long long)last_start);
    } else {
        PyErr_NoMemory();
    }
    PyMem_RawFree(lengths);
    PyBuffer_Release(&view);
    return result;
}

/* ---- strict base64 of many texts of one length -------------------------------------------
 * b64decode_ranges(data, starts, count, length) -> (decoded, valid, padding): each text
 * data[starts[i]:starts[i] + length] (length a multiple of 4) decoded to length / 4 * 3 bytes,
 * a trailing "=" or "==" read as zero bits and counted in padding[i] (int64); valid[i] is 0
 * where any other character is not of the base64 alphabet (its bytes are then meaningless). */
static signed char base64_values[256];

static void base64_table(void) {
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(base64_values, -1, sizeof base64_values);
    for (int value = 0; value < 64; value++) base64_values[(unsigned char)alphabet[value]] = (signed char)value;
}

static PyObject *b64decode_ranges(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data_view, starts_view;
    Py_ssize_t count, length;
    if (!PyArg_ParseTuple(args, "y*y*nn", &data_view, &starts_view, &count, &length))
        return NULL;
    PyObject *result = NULL;
    const int64_t *starts = starts_view.buf;
    int fits = count >= 0 && length > 0 && length % 4 == 0 &&
               starts_view.len >= count * (Py_ssize_t)sizeof(int64_t);
    for (Py_ssize_t i = 0; fits && i < count; i++)
        fits = starts[i] >= 0 && starts[i] <= data_view.len - length;
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "b64decode_ranges: a text lies outside the data");
        goto done;
    }
    Py_ssize_t width = length / 4 * 3;
    PyObject *decoded = PyBytes_FromStringAndSize(NULL, count * width);
    PyObject *valid = PyBytes_FromStringAndSize(NULL, count);
    PyObject *padding = PyBytes_FromStringAndSize(NULL, count * sizeof(int64_t));
    if (decoded && valid && padding) {
        const unsigned char *data = data_view.buf;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(decoded);
        unsigned char *ok = (unsigned char *)PyBytes_AS_STRING(valid);
        int64_t *pads = (int64_t *)PyBytes_AS_STRING(padding);
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < count; i++) {
            const unsigned char *text = data + starts[i];
            int pad = text[length - 1] == '=' ? (text[length - 2] == '=' ? 2 : 1) : 0;
            int bad = 0;
            unsigned char *row = out + i * width;
            for (Py_ssize_t quad = 0; quad < length; quad += 4) {
                int values[4];
                for (int k = 0; k < 4; k++) {
                    Py_ssize_t at = quad + k;
                    values[k] = at >= length - pad ? 0 : base64_values[text[at]];
                    bad |= values[k] < 0;
                }
                uint32_t bits = (uint32_t)(values[0] & 63) << 18 | (uint32_t)(values[1] & 63) << 12 |
                                (uint32_t)(values[2] & 63) << 6 | (uint32_t)(values[3] & 63);
                *row++ = (unsigned char)(bits >> 16);
                *row++ = (unsigned char)(bits >> 8);
                *row++ = (unsigned char)bits;
            }
            ok[i] = (unsigned char)!bad;
            pads[i] = pad;
        }
        Py_END_ALLOW_THREADS
        result = PyTuple_Pack(3, decoded, valid, padding);
    }
    Py_XDECREF(decoded);
    Py_XDECREF(valid);
    Py_XDECREF(padding);
done:
    PyBuffer_Release(&data_view);
    PyBuffer_Release(&starts_view);
    return result;
}

static PyMethodDef methods[] = {
    {"b64decode_ranges", b64decode_ranges, METH_VARARGS,
     "b64decode_ranges(data, starts, count, length) -> (decoded, valid, padding) bytes."},
    {"prune_cells", prune_cells, METH_VARARGS,
     "prune_cells(edges, labels, sizes, well_formed, count, width, input, output, unknown) -> "
     "(edges, labels, kept, valid) bytes, as graph.prune_cells."},
    {"walk_tfrecord", walk_tfrecord, METH_VARARGS,
     "walk_tfrecord(data) -> (uint64 lengths bytes, start of the last header or -1)."},
    {"crc32c_ranges", crc32c_ranges, METH_VARARGS,
     "crc32c_ranges(data, starts, lengths, count) -> uint32 CRC32C of each range, as bytes."},
    {"hash_cells", hash_cells, METH_VARARGS,
     "hash_cells(edges, labels, sizes, count, width) -> bytes: the 16-byte module_hash digest "
     "of each of count pruned cells: edges (count, width, width) uint8, labels (count, width) "
     "int64, sizes (count,) int64."},
    {"md5_rows", md5_rows, METH_VARARGS,
     "md5_rows(buffer, count, width) -> bytes: the 16-byte MD5 digest of each of the count "
     "rows of width bytes in buffer, end to end."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_accel",
                                    "Compiled parts of the NAS-Bench-101 reader.",
                                    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__accel(void) {
    crc_tables();
    base64_table();
    for (int step = 0; step < 64; step++)
        sines[step] = (uint32_t)floor(fabs(sin((double)(step + 1))) * 4294967296.0);
    return PyModule_Create(&module);
}
