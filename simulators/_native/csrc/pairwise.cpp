// Forces and whole sample intervals of kick-drift-kick integration for bodies under a softened
// inverse-distance potential (gravity, charges), a few systems at a time with their state in cache: a
// step costs its arithmetic instead of dozens of passes of tensor operations over the batch.
//
// V(q) = strength * sum_{i<j} a_i a_j / sqrt(|q_i - q_j|^2 + eps^2),  T(p) = sum_i |p_i|^2 / (2 m_i).
//
// The systems go in blocks of L side by side, each quantity stored as L consecutive values (one per
// system), so that every operation, square roots included, is one vector instruction for all of them
// (-fno-math-errno lets the compiler vectorise sqrt). A system's arithmetic is the same whatever its
// lane, so its result does not depend on its batch; a short last block repeats its last system.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int L = 8;

// Systems [b0, b0 + L) of x (batch, n, W) into X (n * W, L).
template <int W>
void gather(const double* x, int64_t b0, int64_t batch, int64_t n, double* X) {
  for (int l = 0; l < L; ++l) {
    const int64_t b = std::min(b0 + l, batch - 1);
    for (int64_t k = 0; k < n * W; ++k) X[k * L + l] = x[b * n * W + k];
  }
}

// The inverse of gather, for the systems that exist.
template <int W>
void scatter(const double* X, int64_t b0, int64_t batch, int64_t n, double* x) {
  for (int l = 0; l < L && b0 + l < batch; ++l) {
    for (int64_t k = 0; k < n * W; ++k) x[(b0 + l) * n * W + k] = X[k * L + l];
  }
}

// F = -dV/dq of a block: X, F (n * D, L), couplings A (n, L). Each pair once.
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

template <int D>
void force_blocks(int64_t first, int64_t last, int64_t batch, int64_t n, const double* q, const double* a,
                  double strength, double eps2, double* f) {
  std::vector<double> X(n * D * L), F(n * D * L), A(n * L);
  for (int64_t block = first; block < last; ++block) {
    gather<D>(q, block * L, batch, n, X.data());
    gather<1>(a, block * L, batch, n, A.data());
    block_force<D>(n, X.data(), A.data(), strength, eps2, F.data());
    scatter<D>(F.data(), block * L, batch, n, f);
  }
}

template <int D>
void kdk_blocks(int64_t first, int64_t last, int64_t batch, int64_t n, double* q, double* p, const double* a,
                const double* m, double strength, double eps2, double h, int64_t n_steps,
                const std::vector<double>& weights) {
  std::vector<double> X(n * D * L), V(n * D * L), F(n * D * L), A(n * L), M(n * L);
  for (int64_t block = first; block < last; ++block) {
    const int64_t b0 = block * L;
    gather<D>(q, b0, batch, n, X.data());
    gather<D>(p, b0, batch, n, V.data());
    gather<1>(a, b0, batch, n, A.data());
    gather<1>(m, b0, batch, n, M.data());
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
    scatter<D>(X.data(), b0, batch, n, q);
    scatter<D>(V.data(), b0, batch, n, p);
  }
}

void check(const torch::Tensor& t, int64_t dims, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat64, name, " must be a float64 CPU tensor");
  TORCH_CHECK(t.dim() == dims, name, " must have ", dims, " dimensions");
}

// q (batch, n, dim) with dim 2 or 3, and per-body tensors (batch, n): checked, and the number of blocks.
int64_t check_bodies(const torch::Tensor& q, std::initializer_list<torch::Tensor> per_body) {
  check(q, 3, "q");
  TORCH_CHECK(q.size(2) == 2 || q.size(2) == 3, "dim must be 2 or 3");
  for (const auto& t : per_body) {
    check(t, 2, "couplings and masses");
    TORCH_CHECK(t.size(0) == q.size(0) && t.size(1) == q.size(1), "couplings and masses must be (batch, n_bodies)");
  }
  return (q.size(0) + L - 1) / L;
}

}  // namespace

// -dV/dq of each system: q (batch, n, dim), couplings a (batch, n). Returns (batch, n, dim).
torch::Tensor forces(const torch::Tensor& q0, const torch::Tensor& a0, double strength, double softening) {
  const int64_t blocks = check_bodies(q0, {a0});
  auto q = q0.contiguous(), a = a0.contiguous();
  auto f = torch::empty_like(q);
  const int64_t batch = q.size(0), n = q.size(1);
  at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
    auto run = q.size(2) == 2 ? force_blocks<2> : force_blocks<3>;
    run(first, last, batch, n, q.data_ptr<double>(), a.data_ptr<double>(), strength, softening * softening,
        f.data_ptr<double>());
  });
  return f;
}

// n_steps steps of size h, each the composition of kick-drift-kick leapfrog steps of size w * h over
// `weights`, from q, p (batch, n, dim) with couplings a and masses m (batch, n). Returns the new q, p.
std::vector<torch::Tensor> kick_drift_kick(const torch::Tensor& q0, const torch::Tensor& p0, const torch::Tensor& a0,
                                           const torch::Tensor& m0, double strength, double softening, double h,
                                           int64_t n_steps, const std::vector<double>& weights) {
  const int64_t blocks = check_bodies(q0, {a0, m0});
  check(p0, 3, "p");
  TORCH_CHECK(q0.sizes() == p0.sizes(), "q and p must have one shape");
  auto q = q0.contiguous().clone(), p = p0.contiguous().clone();
  auto a = a0.contiguous(), m = m0.contiguous();
  const int64_t batch = q.size(0), n = q.size(1);
  at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
    auto run = q.size(2) == 2 ? kdk_blocks<2> : kdk_blocks<3>;
    run(first, last, batch, n, q.data_ptr<double>(), p.data_ptr<double>(), a.data_ptr<double>(),
        m.data_ptr<double>(), strength, softening * softening, h, n_steps, weights);
  });
  return {q, p};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forces", &forces, "-dV/dq of inverse-distance systems: q (batch, n, dim) -> (batch, n, dim)");
  m.def("kick_drift_kick", &kick_drift_kick, "kick-drift-kick steps of inverse-distance systems: q, p (batch, n, dim)");
}
