/* test_sdf_mem.c — SDF targets from memory and from arrays equal the one from the file. */
#include "test.h"
#include "gnf.h"
#include <stdio.h>
#include <string.h>

static const char k_tet[] = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n";

static int same_info(const gnf_sdf_target *a, const gnf_sdf_target *b) {
    gnf_sdf_target_info x, y;
    gnf_sdf_target_get_info(a, &x);
    gnf_sdf_target_get_info(b, &y);
    return x.vertices == y.vertices && x.faces == y.faces && x.watertight == y.watertight &&
           x.sign_by_winding == y.sign_by_winding && !memcmp(x.center, y.center, sizeof x.center) && x.scale == y.scale;
}

TEST(sdf_target_from_memory_and_arrays) {
    char path[512];
    snprintf(path, sizeof path, "%s/tet.obj", test_tmp_dir());
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(k_tet, 1, sizeof k_tet - 1, f) == sizeof k_tet - 1 && fclose(f) == 0);
    gnf_sdf_config c;
    gnf_sdf_config_default(&c);
    c.samples = 4096;
    c.threads = 1;
    gnf_sdf_target *tf = NULL, *tm = NULL, *ta = NULL;
    CHECK_EQ_INT(gnf_sdf_target_create(path, &c, &tf), GNF_OK);
    CHECK_EQ_INT(gnf_sdf_target_create_from_memory(k_tet, sizeof k_tet - 1, "tet.obj", &c, &tm), GNF_OK);
    float v[12] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    int32_t fc[12] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3};
    CHECK_EQ_INT(gnf_sdf_target_create_from_arrays(v, 4, fc, 4, &c, &ta), GNF_OK);
    CHECK(tf && tm && ta && same_info(tf, tm) && same_info(tf, ta));
    gnf_sdf_target_free(tf);
    gnf_sdf_target_free(tm);
    gnf_sdf_target_free(ta);
    /* bad input: named, nothing returned */
    CHECK_EQ_INT(gnf_sdf_target_create_from_memory("v 0 0 0\n", 8, "bad.obj", &c, &tm), GNF_ERR_FORMAT);
    CHECK(tm == NULL && strstr(gnf_last_error(), "bad.obj"));
    fc[0] = 4;
    CHECK_EQ_INT(gnf_sdf_target_create_from_arrays(v, 4, fc, 4, &c, &ta), GNF_ERR_INVALID);
    CHECK(ta == NULL);
    c.samples = 10;
    fc[0] = 0;
    CHECK_EQ_INT(gnf_sdf_target_create_from_arrays(v, 4, fc, 4, &c, &ta), GNF_ERR_INVALID);
    CHECK(ta == NULL && strstr(gnf_last_error(), "samples"));
}
