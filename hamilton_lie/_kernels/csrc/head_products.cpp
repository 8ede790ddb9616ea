// The two per-head products of attention over small sets of tokens, for a batch of sets:
//   head_dot: out[b, r, k, h] = sum_d x[b, r, d, h] y[b, k, d, h]   (query-key logits)
//   head_mix: out[b, r, d, h] = sum_k w[b, r, k, h] y[b, k, d, h]   (weighted sums of values)
// Each is the other's derivative (hamilton_lie/head_products.py), so these two loops serve every
// order of differentiation.
//
// As batched matrix products they are thousands of tiny products (batch x heads of 6 x 20 x 6 in
// the spring model), where MKL's per-product overhead dominates and the head-major operand layout
// costs a copy per call. Here heads are the innermost axis of every operand, so each step is a
// contiguous, vectorisable loop over heads, and sums run in a fixed order (over d or k): results do
// not depend on the number of threads or the instruction set.
//
// Layouts: x, y (B, R or K, D, H) with the last two axes dense (any strides on the first two);
// w (B, R, K, H) with the last axis dense (any strides on the others: a transposed w is accepted).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace hamilton_lie {
namespace {

// rows (b, r) per parallel task: enough work per task to pay for its dispatch
int64_t grain(int64_t work_per_row) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, work_per_row)); }

void check_dense_tail(const at::Tensor& t, int64_t tail, const char* name) {
  TORCH_CHECK(t.dim() == 4, name, " must have 4 dimensions, got ", t.dim());
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.stride(3) == 1 && (tail < 2 || t.stride(2) == t.size(3)), name,
              "'s last ", tail, " axes must be dense");
}

// Eight heads (the reference configuration) as one GCC vector, so that each step below is one SIMD
// multiply-add and the sums stay in registers; other head counts loop over heads.
template <typename T>
struct Heads8 {
  typedef T type __attribute__((vector_size(8 * sizeof(T))));
};

// o[k, h] = sum_d x[d, h] y[k, d, h] for one row of x
template <typename T>
inline void dot_row(const T* __restrict__ x, const T* __restrict__ y, int64_t sy1, int64_t K, int64_t D, int64_t H,
                    T* __restrict__ o) {
  if (H == 8) {
    using V = typename Heads8<T>::type;
    int64_t k = 0;
    // four keys at a time: four independent multiply-add chains instead of one
    for (; k + 4 <= K; k += 4) {
      const T* y0 = y + k * sy1;
      V acc[4] = {};
      for (int64_t d = 0; d < D; ++d) {
        V xv;
        std::memcpy(&xv, x + d * 8, sizeof(V));
        for (int j = 0; j < 4; ++j) {
          V yv;
          std::memcpy(&yv, y0 + j * sy1 + d * 8, sizeof(V));
          acc[j] += xv * yv;
        }
      }
      std::memcpy(o + k * 8, acc, sizeof(acc));
    }
    for (; k < K; ++k) {
      const T* yk = y + k * sy1;
      V acc{};
      for (int64_t d = 0; d < D; ++d) {
        V xv, yv;
        std::memcpy(&xv, x + d * 8, sizeof(V));
        std::memcpy(&yv, yk + d * 8, sizeof(V));
        acc += xv * yv;
      }
      std::memcpy(o + k * 8, &acc, sizeof(V));
    }
    return;
  }
  for (int64_t k = 0; k < K; ++k) {
    const T* yk = y + k * sy1;
    T* ok = o + k * H;
    for (int64_t h = 0; h < H; ++h) ok[h] = 0;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t h = 0; h < H; ++h) ok[h] += x[d * H + h] * yk[d * H + h];
  }
}

// o[d, h] = sum_k w[k, h] y[k, d, h] for one row of w
template <typename T>
inline void mix_row(const T* __restrict__ w, int64_t sw2, const T* __restrict__ y, int64_t sy1, int64_t K, int64_t D,
                    int64_t H, T* __restrict__ o) {
  if (H == 8) {
    using V = typename Heads8<T>::type;
    int64_t d = 0;
    // four value positions at a time: four independent multiply-add chains instead of one
    for (; d + 4 <= D; d += 4) {
      V acc[4] = {};
      for (int64_t k = 0; k < K; ++k) {
        V wv;
        std::memcpy(&wv, w + k * sw2, sizeof(V));
        const T* yk = y + k * sy1 + d * 8;
        for (int j = 0; j < 4; ++j) {
          V yv;
          std::memcpy(&yv, yk + j * 8, sizeof(V));
          acc[j] += wv * yv;
        }
      }
      std::memcpy(o + d * 8, acc, sizeof(acc));
    }
    for (; d < D; ++d) {
      V acc{};
      for (int64_t k = 0; k < K; ++k) {
        V wv, yv;
        std::memcpy(&wv, w + k * sw2, sizeof(V));
        std::memcpy(&yv, y + k * sy1 + d * 8, sizeof(V));
        acc += wv * yv;
      }
      std::memcpy(o + d * 8, &acc, sizeof(V));
    }
    return;
  }
  for (int64_t j = 0; j < D * H; ++j) o[j] = 0;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t h = 0; h < H; ++h) o[d * H + h] += w[k * sw2 + h] * y[k * sy1 + d * H + h];
}

template <typename T>
void dot_rows(const at::Tensor& x, const at::Tensor& y, at::Tensor& out) {
  const int64_t R = x.size(1), K = y.size(1), D = x.size(2), H = x.size(3);
  const int64_t sx0 = x.stride(0), sx1 = x.stride(1), sy0 = y.stride(0), sy1 = y.stride(1);
  const T* xp = x.data_ptr<T>();
  const T* yp = y.data_ptr<T>();
  T* op = out.data_ptr<T>();
  at::parallel_for(0, x.size(0) * R, grain(K * D * H), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / R, r = i % R;
      dot_row(xp + b * sx0 + r * sx1, yp + b * sy0, sy1, K, D, H, op + i * K * H);
    }
  });
}

template <typename T>
void mix_rows(const at::Tensor& w, const at::Tensor& y, at::Tensor& out) {
  const int64_t R = w.size(1), K = w.size(2), D = y.size(2), H = y.size(3);
  const int64_t sw0 = w.stride(0), sw1 = w.stride(1), sw2 = w.stride(2), sy0 = y.stride(0), sy1 = y.stride(1);
  const T* wp = w.data_ptr<T>();
  const T* yp = y.data_ptr<T>();
  T* op = out.data_ptr<T>();
  at::parallel_for(0, w.size(0) * R, grain(K * D * H), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / R, r = i % R;
      mix_row(wp + b * sw0 + r * sw1, sw2, yp + b * sy0, sy1, K, D, H, op + i * D * H);
    }
  });
}

}  // namespace

at::Tensor head_dot(at::Tensor x, at::Tensor y) {
  check_dense_tail(x, 2, "x");
  check_dense_tail(y, 2, "y");
  TORCH_CHECK(x.size(0) == y.size(0) && x.size(2) == y.size(2) && x.size(3) == y.size(3),
              "head_dot: x (B, R, D, H) and y (B, K, D, H) do not match");
  TORCH_CHECK(x.scalar_type() == y.scalar_type(), "head_dot: x and y must have one dtype");
  at::Tensor out = at::empty({x.size(0), x.size(1), y.size(1), x.size(3)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "head_dot", [&] {
    dot_rows<scalar_t>(x, y, out);
  });
  return out;
}

at::Tensor head_mix(at::Tensor w, at::Tensor y) {
  check_dense_tail(w, 1, "w");
  check_dense_tail(y, 2, "y");
  TORCH_CHECK(w.size(0) == y.size(0) && w.size(2) == y.size(1) && w.size(3) == y.size(3),
              "head_mix: w (B, R, K, H) and y (B, K, D, H) do not match");
  TORCH_CHECK(w.scalar_type() == y.scalar_type(), "head_mix: w and y must have one dtype");
  at::Tensor out = at::empty({w.size(0), w.size(1), y.size(2), y.size(3)}, y.options());
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "head_mix", [&] {
    mix_rows<scalar_t>(w, y, out);
  });
  return out;
}

}  // namespace hamilton_lie
