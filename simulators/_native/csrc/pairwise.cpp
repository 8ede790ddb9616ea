// Forces and whole sample intervals of kick-drift-kick integration for bodies under a softened
// inverse-distance potential (gravity, charges), a few systems at a time with their state in cache: a
// step costs its arithmetic instead of dozens of passes of tensor operations over the batch.
//
// V(q) = strength * sum_{i<j} a_i a_j / sqrt(|q_i - q_j|^2 + eps^2),  T(p) = sum_i |p_i|^2 / (2 m_i).
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// f = -dV/dq for one system of n bodies in D dimensions, x and f (n, D) row-major. Each pair once.
template <int D>
void inverse_distance_force(int64_t n, const double* x, const double* a, double strength, double eps2, double* f) {
  for (int64_t k = 0; k < n * D; ++k) f[k] = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      double d[D];
      double r2 = eps2;
      for (int c = 0; c < D; ++c) {
        d[c] = x[i * D + c] - x[j * D + c];
        r2 += d[c] * d[c];
      }
      const double s = strength * a[i] * a[j] / (r2 * std::sqrt(r2));
      for (int c = 0; c < D; ++c) {
        f[i * D + c] += s * d[c];
        f[j * D + c] -= s * d[c];
      }
    }
  }
}

void check(const torch::Tensor& t, int64_t dims, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat64, name, " must be a float64 CPU tensor");
  TORCH_CHECK(t.dim() == dims, name, " must have ", dims, " dimensions");
}

// Systems per block: the kick-drift-kick loop runs L systems side by side, each quantity stored as L
// consecutive values (one per system), so every operation, square roots included, is one vector
// instruction for all of them (-fno-math-errno lets the compiler vectorise sqrt). Each system's
// arithmetic is the same whatever its lane, so its result does not depend on its batch.
constexpr int L = 8;

template <int D>
void block_force(int64_t n, const double* X, const double* A, double strength, double eps2, double* F) {
  for (int64_t k = 0; k < n * D * L; ++k) F[k] = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      double d[D][L], s[L];
#pragma omp simd
      for (int l = 0; l < L; ++l) {
        double r2 = eps2;
        for (int c = 0; c < D; ++c) {
          d[c][l] = X[(i * D + c) * L + l] - X[(j * D + c) * L + l];
          r2 += d[c][l] * d[c][l];
        }
        s[l] = strength * A[i * L + l] * A[j * L + l] / (r2 * std::sqrt(r2));
      }
      for (int c = 0; c < D; ++c) {
#pragma omp simd
        for (int l = 0; l < L; ++l) {
          F[(i * D + c) * L + l] += s[l] * d[c][l];
          F[(j * D + c) * L + l] -= s[l] * d[c][l];
        }
      }
    }
  }
}

// Blocks [first, last) of L systems; a short last block repeats its last system in the spare lanes.
template <int D>
void kdk_blocks(int64_t first, int64_t last, int64_t batch, int64_t n, double* q, double* p, const double* a,
                const double* m, double strength, double eps2, double h, int64_t n_steps,
                const std::vector<double>& weights) {
  std::vector<double> X(n * D * L), V(n * D * L), F(n * D * L), A(n * L), M(n * L);
  for (int64_t block = first; block < last; ++block) {
    const int64_t b0 = block * L;
    for (int l = 0; l < L; ++l) {
      const int64_t b = std::min(b0 + l, batch - 1);
      for (int64_t i = 0; i < n; ++i) {
        A[i * L + l] = a[b * n + i];
        M[i * L + l] = m[b * n + i];
        for (int c = 0; c < D; ++c) {
          X[(i * D + c) * L + l] = q[(b * n + i) * D + c];
          V[(i * D + c) * L + l] = p[(b * n + i) * D + c];
        }
      }
    }
    block_force<D>(n, X.data(), A.data(), strength, eps2, F.data());
    for (int64_t s = 0; s < n_steps; ++s) {
      for (double w : weights) {
        const double kick = 0.5 * w * h, drift = w * h;
        for (int64_t i = 0; i < n; ++i) {
          for (int c = 0; c < D; ++c) {
#pragma omp simd
            for (int l = 0; l < L; ++l) {
              const int64_t k = (i * D + c) * L + l;
              V[k] += kick * F[k];
              X[k] += drift * (V[k] / M[i * L + l]);
            }
          }
        }
        block_force<D>(n, X.data(), A.data(), strength, eps2, F.data());
#pragma omp simd
        for (int64_t k = 0; k < n * D * L; ++k) V[k] += kick * F[k];
      }
    }
    for (int l = 0; l < L && b0 + l < batch; ++l) {
      const int64_t b = b0 + l;
      for (int64_t i = 0; i < n; ++i) {
        for (int c = 0; c < D; ++c) {
          q[(b * n + i) * D + c] = X[(i * D + c) * L + l];
          p[(b * n + i) * D + c] = V[(i * D + c) * L + l];
        }
      }
    }
  }
}

}  // namespace

// n_steps steps of size h, each the composition of kick-drift-kick leapfrog steps of size w * h over
// `weights`, from q, p (batch, n, dim) with couplings a and masses m (batch, n). Returns the new q, p.
std::vector<torch::Tensor> kick_drift_kick(const torch::Tensor& q0, const torch::Tensor& p0, const torch::Tensor& a0,
                                           const torch::Tensor& m0, double strength, double softening, double h,
                                           int64_t n_steps, const std::vector<double>& weights) {
  check(q0, 3, "q");
  check(p0, 3, "p");
  check(a0, 2, "couplings");
  check(m0, 2, "masses");
  TORCH_CHECK(q0.sizes() == p0.sizes(), "q and p must have one shape");
  const int64_t batch = q0.size(0), n = q0.size(1), dim = q0.size(2);
  TORCH_CHECK(a0.size(0) == batch && a0.size(1) == n && m0.size(0) == batch && m0.size(1) == n,
              "couplings and masses must be (batch, n_bodies)");
  TORCH_CHECK(dim == 2 || dim == 3, "dim must be 2 or 3");
  auto q = q0.contiguous().clone(), p = p0.contiguous().clone();
  auto a = a0.contiguous(), m = m0.contiguous();
  const double eps2 = softening * softening;
  const int64_t blocks = (batch + L - 1) / L;
  at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
    auto run = dim == 2 ? kdk_blocks<2> : kdk_blocks<3>;
    run(first, last, batch, n, q.data_ptr<double>(), p.data_ptr<double>(), a.data_ptr<double>(),
        m.data_ptr<double>(), strength, eps2, h, n_steps, weights);
  });
  return {q, p};
}

// -dV/dq of each system: q (batch, n, dim), couplings a (batch, n). Returns (batch, n, dim).
torch::Tensor forces(const torch::Tensor& q0, const torch::Tensor& a0, double strength, double softening) {
  check(q0, 3, "q");
  check(a0, 2, "couplings");
  const int64_t batch = q0.size(0), n = q0.size(1), dim = q0.size(2);
  TORCH_CHECK(a0.size(0) == batch && a0.size(1) == n, "couplings must be (batch, n_bodies)");
  TORCH_CHECK(dim == 2 || dim == 3, "dim must be 2 or 3");
  auto q = q0.contiguous(), a = a0.contiguous();
  auto f = torch::empty_like(q);
  const double eps2 = softening * softening;
  at::parallel_for(0, batch, 64, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const double* x = q.data_ptr<double>() + b * n * dim;
      const double* ab = a.data_ptr<double>() + b * n;
      double* fb = f.data_ptr<double>() + b * n * dim;
      if (dim == 2) inverse_distance_force<2>(n, x, ab, strength, eps2, fb);
      else inverse_distance_force<3>(n, x, ab, strength, eps2, fb);
    }
  });
  return f;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forces", &forces, "-dV/dq of inverse-distance systems: q (batch, n, dim) -> (batch, n, dim)");
  m.def("kick_drift_kick", &kick_drift_kick, "kick-drift-kick steps of inverse-distance systems: q, p (batch, n, dim)");
}
