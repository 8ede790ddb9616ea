// The second derivative of LayerNorm: the derivative of S = <v, dx> with respect to gy, x and the
// weight, where dx is LayerNorm's input gradient for the output gradient gy (the second backward
// pass of Hamiltonian training runs through every LayerNorm's first backward pass). PyTorch's
// generic double backward takes a few dozen tensor operations per call; this is two passes over each
// row. The formulas are derived in hamilton_lie/layer_norm.py.
//
// Per row of C values: xh = (x - mean) rstd, a = w gy, dx = rstd P(a), P(u) = u - mean(u) - xh mean(u xh).
//   d_gy = w rstd P(v),  d_w = sum over rows of gy rstd P(v),
//   d_x = rstd P(G) - S rstd xh / C,  G = -(rstd / C) (<a, xh> v + <v, xh> a),  S = <v, dx>.
// Row sums run in eight interleaved partial sums added in a fixed order, and d_w is summed per chunk
// of rows, then over chunks in order: results do not depend on the number of threads.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace hamilton_lie {
namespace {

constexpr int64_t kRowsPerChunk = 32;

// eight lanes of T as one GCC vector (one or two SIMD registers)
template <typename T>
struct Lanes8 {
  typedef T type __attribute__((vector_size(8 * sizeof(T))));
};

// sum of p[i] q[i] (q null: of p[i]) over i < n, in eight interleaved partial sums added in a fixed order
template <typename T>
inline T row_sum(const T* __restrict__ p, const T* __restrict__ q, int64_t n) {
  using V = typename Lanes8<T>::type;
  V part{};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    V pv, qv;
    std::memcpy(&pv, p + i, sizeof(V));
    if (q) {
      std::memcpy(&qv, q + i, sizeof(V));
      pv *= qv;
    }
    part += pv;
  }
  for (; i < n; ++i) part[i % 8] += q ? p[i] * q[i] : p[i];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

template <typename T>
void run_rows(const T* __restrict__ v, const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ w,
              const T* __restrict__ mean, const T* __restrict__ rstd, int64_t begin, int64_t end, int64_t C,
              T* __restrict__ d_gy, T* __restrict__ d_x, T* __restrict__ d_w, T* __restrict__ scratch) {
  T* __restrict__ xh = scratch;
  T* __restrict__ a = scratch + C;
  const T inv_c = T(1) / T(C);
  for (int64_t r = begin; r < end; ++r) {
    const T* vr = v + r * C;
    const T* gr = gy + r * C;
    const T* xr = x + r * C;
    const T m = mean[r], s = rstd[r];
    for (int64_t c = 0; c < C; ++c) {
      xh[c] = (xr[c] - m) * s;
      a[c] = w[c] * gr[c];
    }
    const T sv = row_sum<T>(vr, nullptr, C), sa = row_sum<T>(a, nullptr, C), vx = row_sum(vr, xh, C),
            ax = row_sum(a, xh, C), va = row_sum(vr, a, C);
    // S = <v, dx> = rstd (<v, a> - sum v sum a / C - <v, xh> <a, xh> / C)
    const T S = s * (va - sv * sa * inv_c - vx * ax * inv_c);
    // P(v) and P(G) with G = -(rstd / C) (ax v + vx a): both from the row sums above
    const T mv = sv * inv_c, mvx = vx * inv_c;
    const T k = -s * inv_c;
    const T mg = k * (ax * sv + vx * sa) * inv_c;
    const T mgx = k * (ax * vx + vx * ax) * inv_c;
    T* __restrict__ dg = d_gy + r * C;
    T* __restrict__ dxr = d_x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const T pv = s * (vr[c] - mv - xh[c] * mvx);
      dg[c] = w[c] * pv;
      d_w[c] += gr[c] * pv;
      const T g = k * (ax * vr[c] + vx * a[c]);
      dxr[c] = s * (g - mg - xh[c] * mgx) - S * s * xh[c] * inv_c;
    }
  }
}

}  // namespace

std::vector<at::Tensor> layer_norm_grad_x_backward(at::Tensor v, at::Tensor gy, at::Tensor x, at::Tensor w,
                                                   at::Tensor mean, at::Tensor rstd) {
  for (const at::Tensor* t : {&v, &gy, &x, &w, &mean, &rstd}) {
    TORCH_CHECK(t->device().is_cpu() && t->is_contiguous(), "layer_norm_grad_x_backward: contiguous CPU tensors");
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), "layer_norm_grad_x_backward: one dtype");
  }
  const int64_t C = w.numel(), rows = C ? x.numel() / C : 0;
  TORCH_CHECK(v.numel() == rows * C && gy.numel() == rows * C && mean.numel() == rows && rstd.numel() == rows,
              "layer_norm_grad_x_backward: shapes do not match");
  at::Tensor d_gy = at::empty_like(x), d_x = at::empty_like(x);
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  at::Tensor d_w = at::zeros({std::max<int64_t>(chunks, 1), C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "layer_norm_grad_x_backward", [&] {
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      std::vector<scalar_t> scratch(2 * C);
      for (int64_t c = c0; c < c1; ++c) {
        run_rows<scalar_t>(v.data_ptr<scalar_t>(), gy.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(),
                           w.data_ptr<scalar_t>(), mean.data_ptr<scalar_t>(), rstd.data_ptr<scalar_t>(),
                           c * kRowsPerChunk, std::min(rows, (c + 1) * kRowsPerChunk), C,
                           d_gy.data_ptr<scalar_t>(), d_x.data_ptr<scalar_t>(), d_w.data_ptr<scalar_t>() + c * C,
                           scratch.data());
      }
    });
  });
  return {d_gy, d_x, d_w.sum(0).view(w.sizes())};
}

}  // namespace hamilton_lie
