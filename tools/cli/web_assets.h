/* web_assets.h — the viewer's files (web/), embedded into the gnf binary at build time by
 * tools/embed_web.sh (build/<variant>/gen/web_assets.c). */
#ifndef GNF_WEB_ASSETS_H
#define GNF_WEB_ASSETS_H
#include <stddef.h>

typedef struct {
    const char *name;              /* base name, e.g. "viewer.js"; NULL ends the table */
    const char *type;              /* HTTP Content-Type */
    const unsigned char *data;     /* the bytes (followed by a 0 byte) */
    size_t size;
} gnf_web_asset;

extern const gnf_web_asset gnf_web_assets[];

#endif
