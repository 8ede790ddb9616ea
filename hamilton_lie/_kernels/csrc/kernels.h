// The C++ kernels of hamilton_lie's attention (one extension: hamilton_lie/_kernels/_build.py builds it).
#pragma once

#include <torch/extension.h>

#include <vector>

namespace hamilton_lie {

// location-kernel MLPs and their derivatives (kernel_mlp.cpp)
at::Tensor forward(at::Tensor x, at::Tensor w1, at::Tensor b1, at::Tensor w2, at::Tensor b2, at::Tensor w3,
                   at::Tensor b3);
at::Tensor grad_x(at::Tensor g, at::Tensor x, at::Tensor w1, at::Tensor b1, at::Tensor w2, at::Tensor b2,
                  at::Tensor w3, at::Tensor b3);
std::vector<at::Tensor> grad_params(at::Tensor g, at::Tensor x, at::Tensor w1, at::Tensor b1, at::Tensor w2,
                                    at::Tensor b2, at::Tensor w3, at::Tensor b3);
std::vector<at::Tensor> grad_x_backward(at::Tensor v, at::Tensor g, at::Tensor x, at::Tensor w1, at::Tensor b1,
                                        at::Tensor w2, at::Tensor b2, at::Tensor w3, at::Tensor b3);

// per-head products over small token sets (head_products.cpp)
at::Tensor head_dot(at::Tensor x, at::Tensor y);
at::Tensor head_mix(at::Tensor w, at::Tensor y);

// LayerNorm's second derivative (layer_norm.cpp)
std::vector<at::Tensor> layer_norm_grad_x_backward(at::Tensor v, at::Tensor gy, at::Tensor x, at::Tensor w,
                                                   at::Tensor mean, at::Tensor rstd);

}  // namespace hamilton_lie
