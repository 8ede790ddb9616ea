// The location-kernel MLPs of LieSelfAttention, fused per pair, with the derivatives Hamiltonian
// training takes: the forward pass, the gradient with respect to the pair features, the parameter
// gradients, and the derivative of <v, gradient with respect to the pair features> with respect to
// everything it depends on (the second backward pass of training).
//
// Per pair and head h, with s the SiLU and W1 (width x in), W2 (width x width), w3 (width):
//   a1 = W1 x + b1,  s1 = s(a1),  a2 = W2 s1 + b2,  s2 = s(a2),  out = w3 . s2 + b3.
// Every intermediate lives in registers or the stack of one pair: memory traffic is the inputs,
// the outputs and the parameter-gradient accumulators, not hundreds of floats per pair.
// The derivations are in hamilton_lie/fused.py.
//
// Layouts (all contiguous): x (n, in), w1 (heads * width, in), b1 (heads * width),
// w2 (heads, width_in, width_out) with a2_j = sum_i w2[h, i, j] s1_i, b2 (heads, width),
// w3 (heads, width), b3 (heads); g, d_g (n, heads); v, d_x (n, in).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t kMaxWidth = 64;
constexpr int64_t kMaxIn = 16;
// pairs per work chunk; each chunk owns its parameter-gradient accumulator, so sums are
// deterministic whatever the number of threads
constexpr int64_t kChunk = 512;

enum Mode { kForward = 0, kGradX = 1, kGradParams = 2, kGradXBackward = 3 };

template <typename T>
struct Args {
  const T *x, *g, *v, *w1, *b1, *w2, *b2, *w3, *b3;
  T *out, *d_g;
  int64_t n, heads, width, in;
};

template <typename T>
inline void silu_derivatives(T a, T& s, T& d1, T& d2) {
  const T sg = T(1) / (T(1) + std::exp(-a));
  s = a * sg;
  d1 = sg * (T(1) + a * (T(1) - sg));
  d2 = sg * (T(1) - sg) * (T(2) + a * (T(1) - T(2) * sg));
}

// Parameter-gradient accumulator layout: w1, b1, w2, b2, w3.
inline int64_t param_size(int64_t heads, int64_t width, int64_t in) {
  return heads * width * in + heads * width + heads * width * width + 2 * heads * width;
}

template <typename T, int M>
void run_chunk(const Args<T>& a, int64_t begin, int64_t end, T* acc) {
  const int64_t H = a.heads, W = a.width, P = a.in;
  T* acc_w1 = acc;
  T* acc_b1 = acc_w1 + H * W * P;
  T* acc_w2 = acc_b1 + H * W;
  T* acc_b2 = acc_w2 + H * W * W;
  T* acc_w3 = acc_b2 + H * W;
  T a1[kMaxWidth], s1[kMaxWidth], d1[kMaxWidth], dd1[kMaxWidth];
  T a2[kMaxWidth], s2[kMaxWidth], d2[kMaxWidth], dd2[kMaxWidth];
  T e1[kMaxWidth], e2[kMaxWidth], t1[kMaxWidth];
  T u[kMaxWidth], c1[kMaxWidth], dd[kMaxWidth], f1[kMaxWidth], f2[kMaxWidth], t2[kMaxWidth];
  for (int64_t p = begin; p < end; ++p) {
    const T* xp = a.x + p * P;
    const T* vp = M == kGradXBackward ? a.v + p * P : nullptr;
    for (int64_t h = 0; h < H; ++h) {
      const T* w1h = a.w1 + h * W * P;
      const T* b1h = a.b1 + h * W;
      const T* w2h = a.w2 + h * W * W;
      const T* b2h = a.b2 + h * W;
      const T* w3h = a.w3 + h * W;
      for (int64_t w = 0; w < W; ++w) {
        T acc1 = b1h[w];
        for (int64_t k = 0; k < P; ++k) acc1 += w1h[w * P + k] * xp[k];
        a1[w] = acc1;
      }
      for (int64_t w = 0; w < W; ++w) silu_derivatives(a1[w], s1[w], d1[w], dd1[w]);
      for (int64_t j = 0; j < W; ++j) a2[j] = b2h[j];
      for (int64_t i = 0; i < W; ++i) {
        const T si = s1[i];
        const T* row = w2h + i * W;
        for (int64_t j = 0; j < W; ++j) a2[j] += row[j] * si;
      }
      for (int64_t j = 0; j < W; ++j) silu_derivatives(a2[j], s2[j], d2[j], dd2[j]);
      if constexpr (M == kForward) {
        T o = a.b3[h];
        for (int64_t j = 0; j < W; ++j) o += w3h[j] * s2[j];
        a.out[p * H + h] = o;
        continue;
      } else {
        const T gh = a.g[p * H + h];
        for (int64_t j = 0; j < W; ++j) e2[j] = gh * w3h[j] * d2[j];
        for (int64_t i = 0; i < W; ++i) {
          const T* row = w2h + i * W;
          T acc2 = 0;
          for (int64_t j = 0; j < W; ++j) acc2 += row[j] * e2[j];
          t1[i] = acc2;
          e1[i] = acc2 * d1[i];
        }
        if constexpr (M == kGradX) {
          T* op = a.out + p * P;
          for (int64_t w = 0; w < W; ++w)
            for (int64_t k = 0; k < P; ++k) op[k] += w1h[w * P + k] * e1[w];
        }
        if constexpr (M == kGradParams) {
          for (int64_t w = 0; w < W; ++w) {
            for (int64_t k = 0; k < P; ++k) acc_w1[(h * W + w) * P + k] += e1[w] * xp[k];
            acc_b1[h * W + w] += e1[w];
          }
          for (int64_t i = 0; i < W; ++i) {
            T* row = acc_w2 + (h * W + i) * W;
            const T si = s1[i];
            for (int64_t j = 0; j < W; ++j) row[j] += si * e2[j];
          }
          for (int64_t j = 0; j < W; ++j) {
            acc_b2[h * W + j] += e2[j];
            acc_w3[h * W + j] += gh * s2[j];
          }
        }
        if constexpr (M == kGradXBackward) {
          // S = <v, grad_x> = sum_j dd_j g w3_j s'(a2_j), dd = W2 (u * s'(a1)), u = W1 v
          for (int64_t w = 0; w < W; ++w) {
            T acc1 = 0;
            for (int64_t k = 0; k < P; ++k) acc1 += w1h[w * P + k] * vp[k];
            u[w] = acc1;
            c1[w] = acc1 * d1[w];
          }
          for (int64_t j = 0; j < W; ++j) dd[j] = 0;
          for (int64_t i = 0; i < W; ++i) {
            const T ci = c1[i];
            const T* row = w2h + i * W;
            for (int64_t j = 0; j < W; ++j) dd[j] += row[j] * ci;
          }
          T dg = 0;
          for (int64_t j = 0; j < W; ++j) {
            dg += dd[j] * w3h[j] * d2[j];
            f2[j] = gh * dd[j] * w3h[j] * dd2[j];
          }
          a.d_g[p * H + h] = dg;
          for (int64_t i = 0; i < W; ++i) {
            const T* row = w2h + i * W;
            T acc2 = 0;
            for (int64_t j = 0; j < W; ++j) acc2 += row[j] * f2[j];
            t2[i] = acc2;
            f1[i] = acc2 * d1[i] + t1[i] * u[i] * dd1[i];
          }
          T* op = a.out + p * P;
          for (int64_t w = 0; w < W; ++w) {
            for (int64_t k = 0; k < P; ++k) {
              op[k] += w1h[w * P + k] * f1[w];
              acc_w1[(h * W + w) * P + k] += f1[w] * xp[k] + e1[w] * vp[k];
            }
            acc_b1[h * W + w] += f1[w];
          }
          for (int64_t i = 0; i < W; ++i) {
            T* row = acc_w2 + (h * W + i) * W;
            const T ci = c1[i], si = s1[i];
            for (int64_t j = 0; j < W; ++j) row[j] += ci * e2[j] + si * f2[j];
          }
          for (int64_t j = 0; j < W; ++j) {
            acc_b2[h * W + j] += f2[j];
            acc_w3[h * W + j] += gh * dd[j] * d2[j];
          }
        }
      }
    }
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
  at::Tensor out = M == kForward ? at::empty({n, H}, x.options()) : at::zeros({n, P}, x.options());
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
        run_chunk<scalar_t, M>(a, c * kChunk, std::min(n, (c + 1) * kChunk), params ? acc_ptr + c * size : nullptr);
      }
    });
  });
  std::vector<at::Tensor> result;
  if (M == kGradXBackward) result.push_back(d_g);
  if (M != kGradParams) result.push_back(out);
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

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "kernel MLP: (n, in) -> (n, heads)");
  m.def("grad_x", &grad_x, "gradient of <g, out> with respect to x: (n, in)");
  m.def("grad_params", &grad_params, "gradients of <g, out> with respect to w1, b1, w2, b2, w3");
  m.def("grad_x_backward", &grad_x_backward,
        "gradients of <v, grad_x> with respect to g, x, w1, b1, w2, b2, w3");
}
