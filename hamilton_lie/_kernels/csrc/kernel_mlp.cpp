// The location-kernel MLPs of LieSelfAttention, fused, with the derivatives Hamiltonian training
// takes: the forward pass, the gradient with respect to the pair features, the parameter gradients,
// and the derivative of <v, gradient with respect to the pair features> with respect to everything
// it depends on (the second backward pass of training).
//
// Per pair and head h, with s the SiLU and W1 (width x in), W2 (width x width), w3 (width):
//   a1 = W1 x + b1,  s1 = s(a1),  a2 = W2 s1 + b2,  s2 = s(a2),  out = w3 . s2 + b3.
// The derivations are in hamilton_lie/fused.py.
//
// Pairs are processed in tiles of kLanes, each intermediate a GCC vector of kLanes values (one per
// pair), so every operation is a SIMD instruction whatever the vector width the build targets, and
// no sum is reordered (the results do not depend on the build flags). Memory traffic is the inputs,
// the outputs and the parameter-gradient accumulators, not hundreds of floats per pair. The
// exponential is our own (below): the C library's cannot be vectorised without -ffast-math.
//
// Layouts (all contiguous): x (n, in), w1 (heads * width, in), b1 (heads * width),
// w2 (heads, width_in, width_out) with a2_j = sum_i w2[h, i, j] s1_i, b2 (heads, width),
// w3 (heads, width), b3 (heads); g, d_g (n, heads); v, d_x (n, in).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "kernels.h"

namespace hamilton_lie {
namespace {

constexpr int64_t kMaxWidth = 64;
constexpr int64_t kMaxIn = 16;
// one vector register's worth of pairs per tile: more would spill registers, fewer wastes lanes
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif
template <typename T>
constexpr int kLanes = kVectorBytes / sizeof(T);
// pairs per work chunk; each chunk owns its parameter-gradient accumulator, so sums are
// deterministic whatever the number of threads
constexpr int64_t kChunk = 512;

enum Mode { kForward = 0, kGradX = 1, kGradParams = 2, kGradXBackward = 3 };

// kLanes values of T as one GCC vector: arithmetic on it compiles to the widest SIMD instructions
// the build targets (and to several narrower ones, or scalar code, elsewhere).
template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(kVectorBytes)));
  typedef int32_t bits __attribute__((vector_size(kVectorBytes)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(kVectorBytes)));
  typedef int64_t bits __attribute__((vector_size(kVectorBytes)));
};
template <typename T>
using Vec = typename VecOf<T>::type;

// exp(x) lane by lane for x within the clamp: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its
// Taylor series (degree 7 in float: relative error 5e-9; degree 13 in double: 4e-18), 2^n from the
// exponent bits. Arguments beyond the clamp only occur in sigmoid(a) for |a| > 80 (float) or 700
// (double), where the clamped value changes the result by less than 1e-34 (float) or 1e-304.
template <typename T>
inline void exp_clamped(const Vec<T>& argument, Vec<T>& result) {
  using Bits = typename VecOf<T>::bits;
  constexpr bool single = std::is_same<T, float>::value;
  constexpr T lo = single ? T(-80) : T(-700), hi = single ? T(80) : T(700);
  const Vec<T> zero{};
  Vec<T> x = argument < lo ? zero + lo : argument;
  x = x > hi ? zero + hi : x;
  // round to nearest by adding and subtracting 1.5 * 2^(mantissa bits)
  constexpr T shifter = single ? T(12582912.0) : T(6755399441055744.0);
  const Vec<T> fn = (x * T(1.4426950408889634) + shifter) - shifter;
  const Vec<T> r = (x - fn * T(0.693145751953125)) - fn * T(1.4286068203094173e-06);
  constexpr int degree = single ? 7 : 13;
  T inverse_factorial[degree + 1];
  inverse_factorial[0] = 1;
  for (int k = 1; k <= degree; ++k) inverse_factorial[k] = inverse_factorial[k - 1] / T(k);
  Vec<T> p = zero + inverse_factorial[degree];
  for (int k = degree - 1; k >= 0; --k) p = p * r + inverse_factorial[k];
  const Bits n = __builtin_convertvector(fn, Bits);
  const Bits exponent = (n + (single ? 127 : 1023)) << (single ? 23 : 52);
  result = p * (Vec<T>)exponent;
}

// s(a) of the SiLU s(a) = a sigmoid(a), and as the mode needs them s'(a) and s''(a).
template <typename T, int M>
inline void silu_derivatives(const Vec<T>& a, Vec<T>& s, Vec<T>& d1, Vec<T>& d2) {
  Vec<T> sg;
  exp_clamped<T>(-a, sg);
  sg = T(1) / (T(1) + sg);
  s = a * sg;
  if constexpr (M != kForward) d1 = sg * (T(1) + a * (T(1) - sg));
  if constexpr (M == kGradXBackward) d2 = sg * (T(1) - sg) * (T(2) + a * (T(1) - T(2) * sg));
}

// Parameter-gradient accumulator layout: w1, b1, w2, b2, w3.
inline int64_t param_size(int64_t heads, int64_t width, int64_t in) {
  return heads * width * in + heads * width + heads * width * width + 2 * heads * width;
}

// Head h's part of each parameter gradient in that layout.
template <typename U>
struct HeadSlots {
  U *w1, *b1, *w2, *b2, *w3;
};
template <typename U>
HeadSlots<U> head_slots(U* base, int64_t h, int64_t H, int64_t W, int64_t P) {
  U* w1 = base;
  U* b1 = w1 + H * W * P;
  U* w2 = b1 + H * W;
  U* b2 = w2 + H * W * W;
  U* w3 = b2 + H * W;
  return {w1 + h * W * P, b1 + h * W, w2 + h * W * W, b2 + h * W, w3 + h * W};
}

template <typename T>
struct Args {
  const T *x, *g, *v, *w1, *b1, *w2, *b2, *w3, *b3;
  T *out, *d_g;
  int64_t n, heads, width, in;
};

// Per-chunk scratch: the tile's intermediates, and lane-wise accumulators of the parameter
// gradients (the param_size layout), summed over lanes in lane order at the end of the chunk.
template <typename T>
struct Scratch {
  Vec<T> xt[kMaxIn], vt[kMaxIn], dx[kMaxIn];
  Vec<T> a1[kMaxWidth], s1[kMaxWidth], d1[kMaxWidth], dd1[kMaxWidth];
  Vec<T> a2[kMaxWidth], s2[kMaxWidth], d2[kMaxWidth], dd2[kMaxWidth];
  Vec<T> e1[kMaxWidth], e2[kMaxWidth], t1[kMaxWidth];
  Vec<T> u[kMaxWidth], c1[kMaxWidth], dd[kMaxWidth], f1[kMaxWidth], f2[kMaxWidth];
  std::vector<Vec<T>> lanes;
};

// WC > 0 fixes the width at compile time (the loops over it unroll and their vectors stay in
// registers); WC = 0 reads it from the arguments.
template <typename T, int M, int WC>
void run_tile(const Args<T>& a, Scratch<T>& s, int64_t p0, int valid) {
  const int64_t H = a.heads, W = WC > 0 ? WC : a.width, P = a.in;
  const Vec<T> zero{};
  // padded lanes get x = v = g = 0: every gradient they contribute is then exactly zero
  for (int64_t k = 0; k < P; ++k) {
    s.xt[k] = zero;
    s.vt[k] = zero;
    s.dx[k] = zero;
    for (int l = 0; l < valid; ++l) {
      s.xt[k][l] = a.x[(p0 + l) * P + k];
      if constexpr (M == kGradXBackward) s.vt[k][l] = a.v[(p0 + l) * P + k];
    }
  }
  for (int64_t h = 0; h < H; ++h) {
    const T* w1h = a.w1 + h * W * P;
    const T* b1h = a.b1 + h * W;
    const T* w2h = a.w2 + h * W * W;
    const T* b2h = a.b2 + h * W;
    const T* w3h = a.w3 + h * W;
    for (int64_t w = 0; w < W; ++w) {
      Vec<T> acc1 = zero + b1h[w];
      for (int64_t k = 0; k < P; ++k) acc1 += w1h[w * P + k] * s.xt[k];
      s.a1[w] = acc1;
      silu_derivatives<T, M>(s.a1[w], s.s1[w], s.d1[w], s.dd1[w]);
    }
    for (int64_t j = 0; j < W; ++j) s.a2[j] = zero + b2h[j];
    for (int64_t i = 0; i < W; ++i) {
      const T* row = w2h + i * W;
      const Vec<T> si = s.s1[i];
      for (int64_t j = 0; j < W; ++j) s.a2[j] += row[j] * si;
    }
    for (int64_t j = 0; j < W; ++j) silu_derivatives<T, M>(s.a2[j], s.s2[j], s.d2[j], s.dd2[j]);
    if constexpr (M == kForward) {
      Vec<T> o = zero + a.b3[h];
      for (int64_t j = 0; j < W; ++j) o += w3h[j] * s.s2[j];
      for (int l = 0; l < valid; ++l) a.out[(p0 + l) * H + h] = o[l];
      continue;
    } else {
      Vec<T> gt = zero;
      for (int l = 0; l < valid; ++l) gt[l] = a.g[(p0 + l) * H + h];
      for (int64_t j = 0; j < W; ++j) s.e2[j] = gt * w3h[j] * s.d2[j];
      for (int64_t i = 0; i < W; ++i) {
        const T* row = w2h + i * W;
        Vec<T> acc2 = row[0] * s.e2[0];
        for (int64_t j = 1; j < W; ++j) acc2 += row[j] * s.e2[j];
        s.t1[i] = acc2;
        s.e1[i] = acc2 * s.d1[i];
      }
      if constexpr (M == kGradX || M == kGradParams) {
        for (int64_t w = 0; w < W; ++w)
          for (int64_t k = 0; k < P; ++k) s.dx[k] += w1h[w * P + k] * s.e1[w];
      }
      if constexpr (M == kGradParams) {
        const HeadSlots<Vec<T>> lane = head_slots(s.lanes.data(), h, H, W, P);
        for (int64_t w = 0; w < W; ++w) {
          for (int64_t k = 0; k < P; ++k) lane.w1[w * P + k] += s.e1[w] * s.xt[k];
          lane.b1[w] += s.e1[w];
          lane.b2[w] += s.e2[w];
          lane.w3[w] += gt * s.s2[w];
        }
        for (int64_t i = 0; i < W; ++i)
          for (int64_t j = 0; j < W; ++j) lane.w2[i * W + j] += s.s1[i] * s.e2[j];
      }
      if constexpr (M == kGradXBackward) {
        // S = <v, grad_x> = sum_j dd_j g w3_j s'(a2_j), dd = W2 (u * s'(a1)), u = W1 v
        for (int64_t w = 0; w < W; ++w) {
          Vec<T> acc1 = zero;
          for (int64_t k = 0; k < P; ++k) acc1 += w1h[w * P + k] * s.vt[k];
          s.u[w] = acc1;
          s.c1[w] = acc1 * s.d1[w];
        }
        for (int64_t j = 0; j < W; ++j) s.dd[j] = zero;
        for (int64_t i = 0; i < W; ++i) {
          const T* row = w2h + i * W;
          const Vec<T> ci = s.c1[i];
          for (int64_t j = 0; j < W; ++j) s.dd[j] += row[j] * ci;
        }
        Vec<T> dg = zero;
        for (int64_t j = 0; j < W; ++j) {
          dg += s.dd[j] * w3h[j] * s.d2[j];
          s.f2[j] = gt * s.dd[j] * w3h[j] * s.dd2[j];
        }
        for (int l = 0; l < valid; ++l) a.d_g[(p0 + l) * H + h] = dg[l];
        for (int64_t i = 0; i < W; ++i) {
          const T* row = w2h + i * W;
          Vec<T> acc2 = row[0] * s.f2[0];
          for (int64_t j = 1; j < W; ++j) acc2 += row[j] * s.f2[j];
          s.f1[i] = acc2 * s.d1[i] + s.t1[i] * s.u[i] * s.dd1[i];
        }
        const HeadSlots<Vec<T>> lane = head_slots(s.lanes.data(), h, H, W, P);
        for (int64_t w = 0; w < W; ++w) {
          for (int64_t k = 0; k < P; ++k) {
            s.dx[k] += w1h[w * P + k] * s.f1[w];
            lane.w1[w * P + k] += s.f1[w] * s.xt[k] + s.e1[w] * s.vt[k];
          }
          lane.b1[w] += s.f1[w];
          lane.b2[w] += s.f2[w];
          lane.w3[w] += gt * s.dd[w] * s.d2[w];
        }
        for (int64_t i = 0; i < W; ++i)
          for (int64_t j = 0; j < W; ++j) lane.w2[i * W + j] += s.c1[i] * s.e2[j] + s.s1[i] * s.f2[j];
      }
    }
  }
  if constexpr (M != kForward) {
    for (int l = 0; l < valid; ++l)
      for (int64_t k = 0; k < P; ++k) a.out[(p0 + l) * P + k] = s.dx[k][l];
  }
}

template <typename T, int M, int WC>
void run_chunk(const Args<T>& a, int64_t begin, int64_t end, T* acc) {
  const int64_t H = a.heads, W = a.width, P = a.in;
  constexpr bool params = M == kGradParams || M == kGradXBackward;
  auto s = std::make_unique<Scratch<T>>();
  if (params) s->lanes.assign(param_size(H, W, P), Vec<T>{});
  for (int64_t p0 = begin; p0 < end; p0 += kLanes<T>) {
    run_tile<T, M, WC>(a, *s, p0, static_cast<int>(std::min<int64_t>(kLanes<T>, end - p0)));
  }
  for (size_t c = 0; c < s->lanes.size(); ++c) {
    T total = 0;
    for (int l = 0; l < kLanes<T>; ++l) total += s->lanes[c][l];
    acc[c] += total;
  }
}

void check(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
           const at::Tensor& b2, const at::Tensor& w3, const at::Tensor& b3) {
  TORCH_CHECK(x.dim() == 2, "x must be (n, in)");
  TORCH_CHECK(w2.dim() == 3 && w2.size(1) == w2.size(2), "w2 must be (heads, width, width)");
  const int64_t H = w2.size(0), W = w2.size(1), P = x.size(1);
  TORCH_CHECK(W <= kMaxWidth && P <= kMaxIn, "width or input length too large for the fused kernel");
  TORCH_CHECK(w1.dim() == 2 && w1.size(0) == H * W && w1.size(1) == P, "w1 must be (heads * width, in)");
  TORCH_CHECK(b1.numel() == H * W && b2.numel() == H * W && w3.numel() == H * W && b3.numel() == H,
              "bias or output weight of the wrong size");
  for (const at::Tensor* t : {&x, &w1, &b1, &w2, &b2, &w3, &b3}) {
    TORCH_CHECK(t->device().is_cpu() && t->scalar_type() == x.scalar_type() && t->is_contiguous(),
                "all tensors must be contiguous CPU tensors of one dtype");
  }
}

template <int M>
std::vector<at::Tensor> launch(const at::Tensor& x, const at::Tensor* g, const at::Tensor* v, const at::Tensor& w1,
                               const at::Tensor& b1, const at::Tensor& w2, const at::Tensor& b2,
                               const at::Tensor& w3, const at::Tensor& b3) {
  check(x, w1, b1, w2, b2, w3, b3);
  const int64_t n = x.size(0), H = w2.size(0), W = w2.size(1), P = x.size(1);
  if (g) TORCH_CHECK(g->is_contiguous() && g->size(0) == n && g->size(1) == H && g->scalar_type() == x.scalar_type(), "g must be (n, heads)");
  if (v) TORCH_CHECK(v->is_contiguous() && v->size(0) == n && v->size(1) == P && v->scalar_type() == x.scalar_type(), "v must be (n, in)");
  at::Tensor out = M == kForward ? at::empty({n, H}, x.options()) : at::empty({n, P}, x.options());
  at::Tensor d_g = M == kGradXBackward ? at::empty({n, H}, x.options()) : at::Tensor();
  const bool params = M == kGradParams || M == kGradXBackward;
  const int64_t chunks = std::max<int64_t>(1, (n + kChunk - 1) / kChunk);
  const int64_t size = param_size(H, W, P);
  at::Tensor acc = params ? at::zeros({chunks, size}, x.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "kernel_mlp", [&] {
    Args<scalar_t> a{x.data_ptr<scalar_t>(),
                     g ? g->data_ptr<scalar_t>() : nullptr,
                     v ? v->data_ptr<scalar_t>() : nullptr,
                     w1.data_ptr<scalar_t>(),
                     b1.data_ptr<scalar_t>(),
                     w2.data_ptr<scalar_t>(),
                     b2.data_ptr<scalar_t>(),
                     w3.data_ptr<scalar_t>(),
                     b3.data_ptr<scalar_t>(),
                     out.data_ptr<scalar_t>(),
                     M == kGradXBackward ? d_g.data_ptr<scalar_t>() : nullptr,
                     n, H, W, P};
    scalar_t* acc_ptr = params ? acc.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t begin = c * kChunk, end = std::min(n, (c + 1) * kChunk);
        scalar_t* chunk_acc = params ? acc_ptr + c * size : nullptr;
        if (W == 16) {  // the reference configuration's width
          run_chunk<scalar_t, M, 16>(a, begin, end, chunk_acc);
        } else {
          run_chunk<scalar_t, M, 0>(a, begin, end, chunk_acc);
        }
      }
    });
  });
  std::vector<at::Tensor> result;
  if (M == kGradXBackward) result.push_back(d_g);
  result.push_back(out);
  if (params) {
    at::Tensor total = acc.sum(0);
    int64_t offset = 0;
    const std::vector<std::vector<int64_t>> shapes = {{H * W, P}, {H * W}, {H, W, W}, {H, W}, {H, W}};
    for (const auto& shape : shapes) {
      int64_t count = 1;
      for (int64_t s : shape) count *= s;
      result.push_back(total.narrow(0, offset, count).view(shape));
      offset += count;
    }
  }
  return result;
}

}  // namespace

at::Tensor forward(at::Tensor x, at::Tensor w1, at::Tensor b1, at::Tensor w2, at::Tensor b2, at::Tensor w3,
                   at::Tensor b3) {
  return launch<kForward>(x, nullptr, nullptr, w1, b1, w2, b2, w3, b3)[0];
}

at::Tensor grad_x(at::Tensor g, at::Tensor x, at::Tensor w1, at::Tensor b1, at::Tensor w2, at::Tensor b2,
                  at::Tensor w3, at::Tensor b3) {
  return launch<kGradX>(x, &g, nullptr, w1, b1, w2, b2, w3, b3)[0];
}

std::vector<at::Tensor> grad_params(at::Tensor g, at::Tensor x, at::Tensor w1, at::Tensor b1, at::Tensor w2,
                                    at::Tensor b2, at::Tensor w3, at::Tensor b3) {
  return launch<kGradParams>(x, &g, nullptr, w1, b1, w2, b2, w3, b3);
}

std::vector<at::Tensor> grad_x_backward(at::Tensor v, at::Tensor g, at::Tensor x, at::Tensor w1, at::Tensor b1,
                                        at::Tensor w2, at::Tensor b2, at::Tensor w3, at::Tensor b3) {
  return launch<kGradXBackward>(x, &g, &v, w1, b1, w2, b2, w3, b3);
}

}  // namespace hamilton_lie
