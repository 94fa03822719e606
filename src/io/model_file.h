/* model_file.h — model files beyond gnf.h: a model with extra tensors and metadata (training
 * checkpoints, docs/FORMAT.md "Checkpoints"), and the model held in a file already read.
 * Internal to libgnf. */
#ifndef GNF_IO_MODEL_FILE_H
#define GNF_IO_MODEL_FILE_H

#include "field/field.h"
#include "io/safetensors.h"

#define GNF_CKPT_PREFIX "gnf.ckpt."   /* metadata keys of a checkpoint; never in a model file */

/* gnf_model_save (f32) plus nextra tensors after the model's (names distinct from them) and
 * nmeta metadata entries after the model's (a model key also given here is written once, with
 * this value).  Atomic; errors name path. */
gnf_status gnf_model_save_with(const gnf_model *m, const char *path, const gnf_st_tensor *extra, int nextra,
                               const gnf_st_kv *meta, int nmeta);

/* The model held in the file f (read and validated by gnf_st_read; not freed here), named path
 * in messages: the same checks as gnf_model_load.  Tensors whose names start with skip (NULL:
 * none) are not part of the model and are left alone; a file with gnf.ckpt.* metadata is
 * refused unless skip is given (a checkpoint is not a model). */
gnf_status gnf_model_from_file(const gnf_st_file *f, const char *path, const char *skip, gnf_model **out);

#endif
