// Python bindings of the kernels declared in kernels.h.
#include "kernels.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using namespace hamilton_lie;
  m.def("forward", &forward, "kernel MLP: (n, in) -> (n, heads)");
  m.def("grad_x", &grad_x, "gradient of <g, out> with respect to x: (n, in)");
  m.def("grad_params", &grad_params, "gradients of <g, out> with respect to x, w1, b1, w2, b2, w3");
  m.def("grad_x_backward", &grad_x_backward,
        "gradients of <v, grad_x> with respect to g, x, w1, b1, w2, b2, w3");
  m.def("head_dot", &head_dot, "out[b, r, k, h] = sum_d x[b, r, d, h] y[b, k, d, h]");
  m.def("head_mix", &head_mix, "out[b, r, d, h] = sum_k w[b, r, k, h] y[b, k, d, h]");
  m.def(
      "parallel",
      [] {
#ifdef _OPENMP
        return true;
#else
        return false;
#endif
      },
      "whether at::parallel_for uses threads in this build (compiled with OpenMP)");
  m.def("layer_norm_grad_x_backward", &layer_norm_grad_x_backward,
        "gradients of <v, LayerNorm's input gradient> with respect to gy, x and the weight");
}
