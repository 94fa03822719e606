/* safetensors.h — reader and writer of the safetensors file layout used for gnf model files.
 *
 * Layout: 8 bytes little-endian u64 N; N bytes of UTF-8 JSON mapping each tensor name to
 * {"dtype": "F32"|"F16", "shape": [...], "data_offsets": [begin, end]} plus an optional
 * "__metadata__" object of string -> string; then the data section (raw little-endian tensors,
 * offsets relative to its start).  Internal to libgnf, not part of the public API.
 *
 * The reader treats the file as hostile: every field is validated and any problem gives a
 * status with a message naming the file and what is wrong.  Whatever gnf_st_write writes,
 * gnf_st_read accepts (the writer refuses inputs the reader would reject). */
#ifndef GNF_IO_SAFETENSORS_H
#define GNF_IO_SAFETENSORS_H

#include "gnf.h"
#include <stdint.h>

/* One tensor.  data is f32 in memory (numel floats, row-major); on read it is owned by the
 * gnf_st_file (allocated with gnf_calloc; at least one float even when numel is 0). */
typedef struct {
    char *name;
    int ndim;           /* 0..8; 0 is a scalar (numel 1) */
    int64_t shape[8];
    int64_t numel;      /* product of shape[0..ndim) */
    float *data;
} gnf_st_tensor;

/* One metadata entry (the "__metadata__" object). */
typedef struct {
    char *key;
    char *value;
} gnf_st_kv;

/* A file read by gnf_st_read: tensors in header order, metadata in header order. */
typedef struct {
    int ntensors;
    gnf_st_tensor *tensors;
    int nmeta;
    gnf_st_kv *meta;
} gnf_st_file;

/* Writes nt tensors (in the given order, contiguous) and nmeta metadata entries to path, as F16
 * if half != 0 else F32.  Names and metadata must be valid UTF-8, names unique and not
 * "__metadata__", metadata keys unique, ndim 0..8, dims 0..2^40, numel equal to the shape's
 * product, data non-NULL when numel > 0, every value finite (and within f16 range when half):
 * otherwise GNF_ERR_INVALID and nothing is written.  Atomic: written to "<path>.tmpXXXXXX" in the
 * same folder, flushed, chmod 0644 and renamed over path; on any failure the temporary file is
 * removed and GNF_ERR_IO names path.  t may be NULL when nt is 0, meta when nmeta is 0. */
gnf_status gnf_st_write(const char *path, const gnf_st_tensor *t, int nt, const gnf_st_kv *meta,
                        int nmeta, int half);

/* Reads and fully validates the file at path into *out (zeroed first).  Tensor data are
 * converted to f32.  GNF_ERR_IO: cannot open or read; GNF_ERR_FORMAT: malformed, truncated,
 * inconsistent or non-finite data; GNF_ERR_UNSUPPORTED: a dtype other than F32/F16 or a file
 * over 4 GiB; GNF_ERR_NOMEM.  On failure *out is left zeroed; on success free it with
 * gnf_st_file_free. */
gnf_status gnf_st_read(const char *path, gnf_st_file *out);
/* The same on a file image data[0..size) (not modified); name stands for the file in messages. */
gnf_status gnf_st_read_memory(const void *data, size_t size, const char *name, gnf_st_file *out);

/* Frees everything *f owns and zeroes it (safe on a zeroed file). */
void gnf_st_file_free(gnf_st_file *f);

/* The tensor called name in f, or NULL. */
const gnf_st_tensor *gnf_st_find(const gnf_st_file *f, const char *name);

/* The metadata value for key in f, or NULL. */
const char *gnf_st_meta(const gnf_st_file *f, const char *key);

/* Exact size in bytes of the file gnf_st_write would produce for these arguments, or -1 (with
 * the reason in gnf_last_error()) if their structure is invalid.  Tensor values are not looked
 * at, so a NaN is not detected here. */
int64_t gnf_st_file_size(const gnf_st_tensor *t, int nt, const gnf_st_kv *meta, int nmeta,
                         int half);

#endif
