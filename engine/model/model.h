/* engine/model/model.h: the model-file room's door inside the engine.
 *
 * Readers for the three formats model_open() accepts (GGUF, Hugging Face
 * safetensors directories, llama2.c checkpoints), the GGUF metadata getters
 * other rooms may use, and the dtype helpers. Every reader works on a byte
 * buffer (an mmap of the file, or the fuzzers' input) and checks every count,
 * offset and size it reads against the buffer's length.
 *
 * Tensor names after loading, whatever the format (llama.cpp's GGUF names):
 *   token_embd.weight, output_norm.weight, output.weight (absent when tied)
 *   blk.N.attn_norm.weight, blk.N.attn_q/attn_k/attn_v.weight (+ .bias),
 *   blk.N.attn_output.weight, blk.N.ffn_norm.weight,
 *   blk.N.ffn_gate.weight (silu branch), blk.N.ffn_up.weight, blk.N.ffn_down.weight
 * BERT / RoBERTa:
 *   token_embd.weight, position_embd.weight, token_types.weight,
 *   token_embd_norm.weight/.bias,
 *   blk.N.attn_q/attn_k/attn_v/attn_output.weight/.bias,
 *   blk.N.attn_output_norm.weight/.bias, blk.N.ffn_up.weight/.bias,
 *   blk.N.ffn_down.weight/.bias, blk.N.layer_output_norm.weight/.bias,
 *   the masked-LM head (our names; llama.cpp has none):
 *   mlm.dense.weight/.bias (transform), mlm.norm.weight/.bias (its LayerNorm),
 *   output.weight (decoder; absent when tied to token_embd), output.bias.
 * MDLM / SEDD (the DiT; shapes as [out, in], d = width, c = cond_dim,
 * f = frequency embedding width, 256):
 *   token_embd.weight [V, d]
 *   t_embd.fc1.weight [c, f], t_embd.fc1.bias [c]   sigma embedding MLP
 *   t_embd.fc2.weight [c, c], t_embd.fc2.bias [c]
 *   blk.N.adaln.weight [6d, c], blk.N.adaln.bias [6d]  shift, scale, gate x 2
 *   blk.N.attn_norm.weight [d], blk.N.attn_qkv.weight [3d, d] (q, k, v rows;
 *   heads inside each, rotate-half RoPE), blk.N.attn_output.weight [d, d],
 *   blk.N.ffn_norm.weight [d], blk.N.ffn_up.weight [4d, d] + .bias,
 *   blk.N.ffn_down.weight [d, 4d] + .bias,
 *   output_norm.weight [d], output_adaln.weight [2d, c] + .bias (shift, scale),
 *   output.weight [V, d], output.bias [V].
 * Tensors a Hugging Face file has that map to none of these keep their own
 * name (e.g. bert.pooler.dense.weight, backbone.rotary_emb.inv_freq).
 */
#ifndef DLLM_MODEL_H
#define DLLM_MODEL_H

#include "engine/engine.h"

#include <stdint.h>

/* ------------------------------------------------------------------ dtypes */

/* Elements per block and bytes per block of a tensor type; -1 if unknown. */
int dtype_block(int type, int *block_elems, int *block_bytes);
/* Bytes of a row of n elements, or -1 (unknown type, n not a block multiple). */
int64_t dtype_row_bytes(int type, int64_t n);
float dtype_f16_to_f32(uint16_t h);
float dtype_bf16_to_f32(uint16_t h);

/* -------------------------------------------------------------------- GGUF */

enum gguf_type {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4,
    GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STR = 8, GGUF_ARR = 9,
    GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
};

struct gguf_kv {
    char *key;
    enum gguf_type type;
    /* scalars: integers (bool too) in i or u, floats in f */
    int64_t i;
    uint64_t u;
    double f;
    char *str;                 /* GGUF_STR: a NUL-terminated copy */
    /* GGUF_ARR */
    enum gguf_type arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;   /* the elements as stored (little-endian, unaligned) */
    char **arr_str;            /* arrays of strings: NUL-terminated copies */
};

struct gguf_tensor_info {
    char *name;
    int type;
    int n_dims;
    int64_t ne[4];             /* unused dims are 1 */
    uint64_t offset;           /* from the start of the data section */
    size_t nbytes;
    const void *data;
};

struct gguf {
    const uint8_t *buf;
    size_t size;
    uint32_t version;
    int n_kv;
    struct gguf_kv *kv;
    int n_tensors;
    struct gguf_tensor_info *tensors;
    uint32_t alignment;
    size_t data_offset;
    void *map;                 /* set by gguf_open: the file's mapping */
};

/* Parses a GGUF image in memory (kept by reference; it must outlive g).
 * name is used in error messages. On failure g holds nothing to free. */
int gguf_parse(struct gguf *g, const void *buf, size_t size, const char *name, char *err, size_t errlen);
/* mmaps path and parses it. */
int gguf_open(const char *path, struct gguf **out, char *err, size_t errlen);
/* Frees what gguf_parse allocated (and the mapping of gguf_open); the struct
 * itself only when it came from gguf_open. */
void gguf_clear(struct gguf *g);
void gguf_close(struct gguf *g);

const struct gguf_kv *gguf_find(const struct gguf *g, const char *key);
const struct gguf_tensor_info *gguf_find_tensor(const struct gguf *g, const char *name);
const char *gguf_type_name(enum gguf_type t);
/* Typed getters: 1 when the key is there and converts (integers within range;
 * any integer or float type for f32), 0 when absent, -1 when of another type
 * or out of range. *v is written only on 1. */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *v);
int gguf_get_i32(const struct gguf *g, const char *key, int32_t *v);
int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *v);
int gguf_get_f32(const struct gguf *g, const char *key, float *v);
int gguf_get_bool(const struct gguf *g, const char *key, int *v);
int gguf_get_str(const struct gguf *g, const char *key, const char **v);
/* Array of strings: pointers owned by g. */
int gguf_get_strs(const struct gguf *g, const char *key, char *const **v, int *n);
/* Numeric arrays converted into a malloc'd copy the caller frees. */
int gguf_get_arr_i32(const struct gguf *g, const char *key, int32_t **v, int *n);
int gguf_get_arr_f32(const struct gguf *g, const char *key, float **v, int *n);

/* ------------------------------------------------------------- safetensors */

struct st_tensor {
    char *name;
    enum dtype type;
    int n_dims;
    int64_t ne[4];             /* GGUF order: ne[0] innermost; unused dims are 1 */
    const void *data;
    size_t nbytes;
};

struct st_file {
    const uint8_t *buf;
    size_t size;
    int n_tensors;
    struct st_tensor *tensors;
    void *map;                 /* set by st_open */
};

/* Parses a safetensors image (8-byte header length, JSON header, data).
 * Supported dtypes: F32, F16, BF16; at most 4 dims. */
int st_parse(struct st_file *f, const void *buf, size_t size, const char *name, char *err, size_t errlen);
int st_open(const char *path, struct st_file *f, char *err, size_t errlen);
void st_clear(struct st_file *f);

/* ---------------------------------------------------- loaders (model_open) */

/* Maps a file read-only; *data is NULL for an empty file. */
int model_map_file(const char *path, void **data, size_t *size, char *err, size_t errlen);
/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. */
char *model_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* Shared by the loaders: a new empty model, adding tensors, keeping buffers. */
struct model *model_new(const char *path);
int model_add_tensor(struct model *m, const char *name, enum dtype type, int n_dims, const int64_t *ne,
                     const void *data, size_t nbytes, char *err, size_t errlen);
void model_keep_map(struct model *m, void *map, size_t size);
void model_keep_buffer(struct model *m, void *buf);
/* After a loader: ties, mask/eot fallbacks, defaults, sanity checks. */
int model_finish(struct model *m, char *err, size_t errlen);
/* Checks a tensor's shape: n1 == 0 means a vector of n0. A missing tensor is
 * an error (naming it and the architecture) only when required. */
int model_want_tensor(const struct model *m, const char *name, int64_t n0, int64_t n1, int required, char *err,
                      size_t errlen);
/* The end of every open: model_finish when the loader succeeded (rc == 0),
 * then *out = m, or m freed and -1 on any failure. */
int model_deliver(struct model *m, int rc, struct model **out, char *err, size_t errlen);

int model_load_gguf(struct model *m, const char *path, char *err, size_t errlen);
/* model_open for a GGUF image in memory (kept by reference: it must outlive
 * the model); for the fuzzers and tests. */
int model_open_gguf_memory(const void *buf, size_t size, const char *name, struct model **out, char *err,
                           size_t errlen);
int model_load_hf(struct model *m, const char *dir, char *err, size_t errlen);
int model_load_llama2c(struct model *m, const char *dir_or_file, char *err, size_t errlen);

/* model_dit.c: MDLM / SEDD. dit_hf_is_sedd: config.json is SEDD's (model
 * type "sedd", or the hub mixin's dict with graph/noise/model sections).
 * dit_hf_config / dit_gguf_config fill the config (the GGUF one after the
 * generic keys); dit_finish checks it and the tensors, sets the mask id. */
struct cJSON;
int dit_hf_is_sedd(const struct cJSON *cfg);
int dit_hf_config(struct model *m, const struct cJSON *cfg, int sedd, char *err, size_t errlen);
int dit_gguf_config(const struct gguf *g, struct model *m, const char *arch, char *err, size_t errlen);
int dit_finish(struct model *m, char *err, size_t errlen);

/* Hugging Face tensor name -> our name (writes into out); 0 when mapped,
 * -1 when the name is not one we know (the caller keeps it as it is). */
int hf_map_name(enum arch a, const char *hf, char *out, size_t outlen);

#endif
