/* Data readers for calibration, evaluation and the CLIs: IDX (as MNIST and Fashion-MNIST
 * ship it, plain or gzip), NumPy .npy (C order), ONNX TensorProto .pb. Every reader parses
 * from a memory buffer (so it can be fuzzed) and checks each size against the bytes present. */
#ifndef ANN2SNN_DATA_H
#define ANN2SNN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/dtype.h"

/* Largest decompressed data file accepted. */
#define SNN_DATA_MAX_BYTES ((size_t)1 << 32)

/* How a file stores each value. */
typedef enum {
    SNN_VALUES_U8,
    SNN_VALUES_I8,
    SNN_VALUES_I16_BE,
    SNN_VALUES_I32_BE,
    SNN_VALUES_F32_BE,
    SNN_VALUES_F64_BE,
    SNN_VALUES_I32_LE,
    SNN_VALUES_I64_LE,
    SNN_VALUES_F32_LE,
    SNN_VALUES_F64_LE,
} snn_values_kind;

/* Bytes of one value of kind k. */
size_t snn_values_size(snn_values_kind k);
/* dst[0..n) = the n values of kind k at src, as floats. */
void snn_values_decode(snn_values_kind k, const uint8_t *src, int64_t n, float *dst);

/* An image folder's file list (data_image.c). */
typedef struct snn_image_set snn_image_set;

typedef struct {
    int64_t n;                  /* number of samples (the leading dimension) */
    int rank;                   /* rank of one sample */
    int64_t dims[SNN_MAX_RANK]; /* (rank) shape of one sample */
    int64_t sample_size;        /* product of dims */
    float *x;                   /* (n, sample_size) values as stored: uint8 stays 0..255;
                                   NULL when streamed */
    bool from_uint8;            /* stored as uint8 (so default scaling is 1/255) */
    /* Streamed (snn_dataset_open): the values stay in the file and snn_dataset_get() reads
     * each sample when it is used, so memory does not grow with the data set. */
    bool streamed;
    int fd;                  /* the open file, when streamed */
    int64_t data_offset;     /* where the first value is, in the file (parsers: in the buffer) */
    snn_values_kind kind;    /* how each value is stored */
    snn_image_set *images;   /* an image folder (snn_dataset_open_folder), decoded on read */
} snn_dataset;

/* Image folders: the resize and center crop applied to each image, 0 for none. */
typedef struct {
    int resize;   /* the shorter side becomes this many pixels (bilinear) */
    int crop;     /* then the centre crop x crop pixels */
    int channels; /* 3 (RGB; also for 0) or 1 (luma 0.299 R + 0.587 G + 0.114 B, as PIL's "L") */
} snn_image_opts;

typedef struct {
    int64_t n;
    int32_t *y; /* (n) class indices */
} snn_labels;

/* Preprocessing applied to raw values: x' = (x * scale - mean) / std, with one mean and std
 * for every value (channels 0 or 1), or per channel: a sample is (C, ...) with C = channels,
 * and value k of a sample belongs to channel k / (sample_size / C). */
typedef struct {
    float scale, mean, std;
    int channels;                       /* 0 or 1: mean, std; else mean_c, std_c */
    float mean_c[SNN_MAX_PREP_CHANNELS]; /* (channels) */
    float std_c[SNN_MAX_PREP_CHANNELS];  /* (channels) */
} snn_preprocess;

snn_status snn_idx_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag);
snn_status snn_npy_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag);
/* The header alone, in buf (the first len bytes of a file of `total` bytes): fills ds's shape,
 * kind and data_offset and checks that the file's size is what the header declares; decodes
 * nothing (ds->x stays NULL). The parsers above are this plus snn_values_decode(). */
snn_status snn_idx_layout(const uint8_t *buf, size_t len, size_t total, snn_dataset *ds, snn_diag *diag);
snn_status snn_npy_layout(const uint8_t *buf, size_t len, size_t total, snn_dataset *ds, snn_diag *diag);
/* A layout's last step: n, rank, dims, sample_size and from_uint8 from the file's dims (nd of
 * them, the first counting samples) and ds->kind. */
void snn_dataset_set_shape(snn_dataset *ds, const int64_t *dims, int nd);
/* After a layout: every value of buf (the whole file) decoded into a new ds->x. */
snn_status snn_dataset_decode_all(const uint8_t *buf, snn_dataset *ds, snn_diag *diag);
/* Any of the three formats, told apart by their magic bytes; gzip is undone first. */
snn_status snn_dataset_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag);
snn_status snn_dataset_read(const char *path, snn_dataset *ds, snn_diag *diag);
/* Like snn_dataset_read(), but a plain (not gzipped) .npy or IDX file is streamed: only its
 * header is read now, after checking that the file holds every value it declares. Other files
 * are read whole. */
snn_status snn_dataset_open(const char *path, snn_dataset *ds, snn_diag *diag);
/* An image folder in torchvision's ImageFolder layout: DIR/CLASS/FILE.png|.jpg|.jpeg, classes
 * in sorted name order (the label is the index), files sorted within each; other files and
 * hidden entries are skipped. Samples are (3, H, W) RGB values 0..255 (gray images repeated,
 * alpha dropped), or (1, H, W) gray with opts->channels 1, decoded by libpng / libjpeg when snn_dataset_get() reads them, resized and
 * cropped as opts says (a resize without a crop crops to N x N, as torchvision's Resize(N) +
 * CenterCrop(N)). H x W is the crop, else the first image's size, and
 * an image of another size is an error naming it. max_samples > 0 keeps that many, spread
 * evenly over the sorted list (so a calibration subset has every class). lb (optional)
 * receives the labels. */
snn_status snn_dataset_open_folder(const char *dir, const snn_image_opts *opts, int64_t max_samples,
                                   snn_dataset *ds, snn_labels *lb, snn_diag *diag);
/* Image i of a folder data set into dst (3 x H x W); the message names the file. */
snn_status snn_image_read(const snn_image_set *set, int64_t i, float *dst, snn_diag *diag);
void snn_image_set_free(snn_image_set *set);
/* The file of sample i of a folder data set, NULL otherwise. */
const char *snn_image_path(const snn_dataset *ds, int64_t i);
bool snn_path_is_dir(const char *path);

/* Samples first .. first + count - 1 as stored, into dst (count x sample_size floats): a
 * streamed file in one read. */
snn_status snn_dataset_get_range(const snn_dataset *ds, int64_t first, int64_t count, float *dst,
                                 snn_diag *diag);
/* Sample i (0 <= i < n) as stored, into dst (sample_size floats). Fails only when a streamed
 * file cannot be read (it changed or shrank since it was opened). Safe to call from several
 * threads at once. */
snn_status snn_dataset_get(const snn_dataset *ds, int64_t i, float *dst, snn_diag *diag);
/* Like snn_dataset_read, but keep at most max_samples samples. IDX files (plain or gzip) are
 * read only as far as needed, so a calibration subset of a large training set is cheap. */
snn_status snn_dataset_read_prefix(const char *path, int64_t max_samples, snn_dataset *ds,
                                   snn_diag *diag);
void snn_dataset_free(snn_dataset *ds);

/* Synthetic calibration samples for a conversion without data (data_synthetic.c): n samples
 * of shape dims (rank values, no batch), raw bytes 0..255 (from_uint8): uniform noise, noise
 * smoothed by a Gaussian of 2 pixels over the last two dimensions and stretched to 0..255, or
 * the first half of one and the second of the other. The same set on every machine. */
typedef enum { SNN_SYNTH_UNIFORM, SNN_SYNTH_SMOOTH, SNN_SYNTH_MIX } snn_synthetic_kind;
snn_status snn_dataset_synthetic(snn_dataset *ds, const int64_t *dims, int rank, int64_t n, snn_synthetic_kind kind,
                                 snn_diag *diag);
/* SNN_OK when every sample of ds has sample_size values; else SNN_ERR_INVALID with "samples
 * have N values, <what> takes M" (what: the consumer, e.g. "the SNN"). */
snn_status snn_dataset_check_size(const snn_dataset *ds, int64_t sample_size, const char *what,
                                  snn_diag *diag);

/* Labels: a 1-D dataset of non-negative integers. */
snn_status snn_labels_read(const char *path, snn_labels *lb, snn_diag *diag);
void snn_labels_free(snn_labels *lb);

/* Read a whole file, gunzipping it when it starts with the gzip magic. */
snn_status snn_read_maybe_gz(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             snn_diag *diag);
/* Gunzip an in-memory buffer (for fuzzing the .gz path). */
snn_status snn_gunzip(const uint8_t *in, size_t in_len, size_t max_bytes, uint8_t **out,
                      size_t *out_len, snn_diag *diag);

/* Sample i (snn_dataset_get()) with preprocessing applied, into dst (sample_size floats); per
 * channel when pp->channels > 1 (sample_size must then be a multiple of it). */
snn_status snn_preprocess_sample(const snn_dataset *ds, int64_t i, const snn_preprocess *pp,
                                 float *dst, snn_diag *diag);
/* The preprocessing alone, in place on one sample of ds as stored (sample_size floats). */
void snn_preprocess_values(const snn_dataset *ds, const snn_preprocess *pp, float *dst);

#endif
