/* nerf_head.h — the radiance-field output head and per-ray volume rendering (docs/MODEL.md "Radiance fields")
 * One sample's decoder output is y[NERF_OUT]: y[0] raw density, y[1 + 16c + j] the degree-3
 * spherical-harmonic coefficient j of colour channel c (c = 0, 1, 2 = R, G, B):
 *   sigma = softplus(y[0] + NERF_DENSITY_SHIFT)
 *   rgb_c = sigmoid(sum_j Y_j(d) y[1 + 16c + j]),  Y the real SH basis at the view direction d.
 * A ray is n samples in marching order; sample i has optical step dt_i (already scaled, so its
 * optical thickness is sigma_i dt_i) and distance t_i:
 *   alpha_i = 1 - exp(-sigma_i dt_i),  T_0 = 1,  T_{i+1} = T_i (1 - alpha_i),  w_i = T_i alpha_i
 *   C = sum_i w_i rgb_i + T_end bg,  opacity = 1 - T_end,  depth = sum_i w_i t_i.
 * Early termination: once T_{i+1} < t_min after compositing sample i, the samples after i are
 * ignored (weight 0, gradient 0) and T_end = T_{i+1}; t_min <= 0 never terminates.  Forward and
 * backward truncate identically.  opacity is computed as 1 - exp(-sum_i sigma_i dt_i) over the
 * composited samples, so it keeps its relative precision on nearly empty rays.
 * Plain C (the compiler vectorises the per-sample part), allocation-free, thread-safe. */
#ifndef GNF_NERF_HEAD_H
#define GNF_NERF_HEAD_H

#include "field/field.h"

#define NERF_OUT 49                  /* 1 density + 3 channels x 16 SH coefficients */
#define NERF_SH 16                   /* SH functions of degree <= 3 */
#define NERF_DENSITY_SHIFT (-10.0f)

/* Real SH basis of degree <= 3 at the unit direction d (not normalised here), in the
 * PlenOctrees/svox2 order and sign convention: Y[0] = C0, Y[1] = -C1 y, Y[2] = C1 z,
 * Y[3] = -C1 x, Y[4..8] degree 2, Y[9..15] degree 3.  Orthonormal over the unit sphere. */
void gnf_nerf_sh16(float Y[16], const float d[3]);

/* Density sigma = softplus(y0 + NERF_DENSITY_SHIFT) >= 0: finite for every finite y0 (no
 * overflow at +-1000), relative error < 2e-6 down to 1e-37 (exactly 0 below y0 = -77). */
float gnf_nerf_density(float y0);
/* sigma[i] = gnf_nerf_density(y0[i]) for i < n (the same bits; a loop the compiler vectorises). */
void gnf_nerf_density_n(float *sigma, const float *y0, long n);
/* d sigma / d y0 = sigmoid(y0 + NERF_DENSITY_SHIFT), in [0, 1]; safe for every finite y0. */
float gnf_nerf_density_grad(float y0);

/* Colour of one sample: rgb[c] = sigmoid(sum_j Y16[j] y[1 + 16c + j]), in [0, 1].
 * y: that sample's NERF_OUT outputs (y[0] is not read); Y16: gnf_nerf_sh16 of the view direction. */
void gnf_nerf_sh_colour(float rgb[3], const float *y, const float Y16[16]);

/* Colour straight from the RBF activations, for rendering: a ray's view direction is fixed, so the
 * SH dot product folds into the head once per ray,
 *   M [3][K]: M_ck = sum_j Y16[j] W[1 + 16c + j][k],   b_c = sum_j Y16[j] w0[1 + 16c + j]
 * (W [NERF_OUT][K], w0 [NERF_OUT]: the decoder head), and each sample's colour is then
 *   rgb_c = sigmoid(b_c + sum_k M_ck phi_k)
 * (3K multiply-adds instead of 48K + 48).  Equal to gnf_nerf_sh_colour of W phi + w0 up to float
 * rounding (the sums run in another order). */
void gnf_nerf_sh_matrix(float *M, float b[3], const float *W, const float *w0, int K, const float Y16[16]);
/* rgb [n][3]: the colours of n samples of one ray, whose activations are the rows idx[0..n) of
 * phi [.][K].  Both run through the kernel table (kernels.h; the _ref versions here are the
 * scalar definition). */
void gnf_nerf_colour_phi(float *rgb, const float *M, const float b[3], const float *phi, const int *idx, long n, int K);

/* What one ray composites to.  n_used: samples composited before termination (<= n). */
typedef struct { float rgb[3]; float opacity; float depth; long n_used; } nerf_ray_result;

/* Forward rendering of one ray.
 * Shapes: y [n][ys] (ys >= NERF_OUT; row i is sample i's outputs), Y16 [16] (the ray's SH basis),
 * dt [n] (>= 0), t [n] or NULL (then depth = 0), bg [3].  n >= 0; n = 0 gives rgb = bg,
 * opacity 0, depth 0.  Writes *out. */
void gnf_nerf_composite(nerf_ray_result *out, const float *y, long ys, const float Y16[16], const float *dt,
                    const float *t, long n, const float bg[3], float t_min);

/* Forward + backward of one ray with loss L = scale * sum_c (C_c - target_c)^2.
 * Shapes as gnf_nerf_composite; dy [n][dys] (dys >= NERF_OUT), must not overlap y.
 * Writes (overwrites, does not accumulate) dy[i][0..48] = dL/dy_i for every row i < n; rows at
 * and after n_used are zeroed; floats 49..dys-1 of each row are not touched.  Fills *out like
 * gnf_nerf_composite and returns sum_c (C_c - target_c)^2 (unscaled).  O(n): one pass forward, one
 * backward over the rows (the backward reads per-sample values the forward parked in dy). */
float gnf_nerf_composite_backward(float *dy, long dys, nerf_ray_result *out, const float *y, long ys, const float Y16[16],
                              const float *dt, const float *t, long n, const float bg[3], const float target[3],
                              float scale, float t_min);

/* gnf_nerf_composite_backward for samples whose colours were computed already (training through
 * the activations: gnf_nerf_colour_phi): yc [n][ycs] (ycs >= 4) holds each sample's raw density y0
 * and its colour r, g, b (in (0, 1): rgb_c = sigmoid(z_c), z_c the SH sum of its 48 colour outputs
 * at Y16).  Writes the gradient in the factored form dy[i][0] = dL/dy0, dy[i][1 + c] = dL/dz_c
 * (so dL/dy_{1+16c+j} = dy[i][1 + c] Y16[j]): rows of dys >= NERF_RGB_DY floats (the forward parks
 * values in them), of which floats 4.. are scratch; rows at and after n_used get 4 zeros.  Fills
 * *out and returns the squared error as gnf_nerf_composite_backward does (the same values up to
 * the rounding of the colours). */
#define NERF_RGB_DY 9
float gnf_nerf_composite_backward_rgb(float *dy, long dys, nerf_ray_result *out, const float *yc, long ycs,
                                      const float Y16[16], const float *dt, const float *t, long n, const float bg[3],
                                      const float target[3], float scale, float t_min);
/* The RBF decoder's backward of n samples of one ray whose output gradient has the factored form
 * of gnf_nerf_composite_backward_rgb: dy4 [n][4] = (dL/dy0, dL/dz_0, dL/dz_1, dL/dz_2), so that
 * dL/dy_{1+16c+j} = dy4[1 + c] Y16[j].  The same contract as gnf_rbf_train (field.h) with
 * GNF_LOSS_GIVEN, O = NERF_OUT and those 49 gradients — df [n][D] written, dc, db, dW, dw0 of g
 * accumulated, g.work its scratch — but the head runs as 4 rows, [W_0; M] with M the ray's SH
 * matrix (gnf_nerf_sh_matrix), and its row gradients expand back once per call,
 *   dW_0 += dW'_0,   dW_{1+16c+j} += Y16_j dW'_{1+c}   (the same for w0),
 * so a sample costs 4 head rows instead of 49.  Equal to the 49-row backward up to rounding.
 * K <= 64. */
void gnf_nerf_head_backward(float *df, rbf_grads g, const float *f, const float *dy4, const float *c, const float *beta,
                            const float *W, const float *w0, long n, int D, int K, gnf_basis basis, const float Y16[16]);
/* Weights only, for rendering where colour is evaluated only where the weight matters.
 * Shapes: sigma [n] (densities, >= 0), dt [n], w [n].  Writes w[i] = T_i alpha_i for i < the
 * returned count (the samples composited before termination, same rule and same arithmetic as
 * gnf_nerf_composite); w[count..n-1] are not written.  *T_end = transmittance after the last
 * composited sample (1 for n = 0). */
long gnf_nerf_weights(float *w, float *T_end, const float *sigma, const float *dt, long n, float t_min);
/* The transmittance of a ray continued over n more samples, for training's forward pass to stop
 * where compositing will stop.  Shapes: y0 [n] with stride ys (the density rows), dt [n].
 * *T holds the transmittance before the first of them (1 for a ray's first sample) and gets the
 * one after the last processed; processing stops after the sample that takes *T below t_min.
 * Returns the count processed.  The same rule and arithmetic as gnf_nerf_composite, sample by
 * sample: when it stops here, a composite of the ray's samples so far stops at the same one. */
long gnf_nerf_transmit(float *T, const float *y0, long ys, const float *dt, long n, float t_min);

#endif
