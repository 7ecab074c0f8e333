#include "mixmatch/stats.h"

#include <cmath>
#include <limits>

#include "kernels/error.h"

namespace mmengine {

double mean_of(const std::vector<double>& v) {
  MM_CHECK(!v.empty(), "mean of no values");
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

double pooled_sd(const std::vector<double>& a, const std::vector<double>& b) {
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  MM_CHECK(na + nb > 2, "pooled standard deviation of ", na + nb, " values");
  const double sa = sample_sd(a), sb = sample_sd(b);
  return std::sqrt(((na - 1) * sa * sa + (nb - 1) * sb * sb) / (na + nb - 2));
}

namespace {
// The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)):
// 1 / (1 + d1 / (1 + d2 / (1 + ...))) with
//   d(2m+1) = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),  d(2m) = m (b - m) x / ((a + 2m - 1)(a + 2m)).
double beta_fraction(double x, double a, double b) {
  const double tiny = 1e-300, eps = 1e-15;
  // Lentz: f = b0 + a1/(b1 + a2/(b2 + ...)) with b0 = 0 handled as 1 / (1 + d1/(1 + ...)).
  double f = 1, c = 1, d = 0;
  for (int j = 1; j <= 10000; ++j) {
    const int m = j / 2;
    const double dj = j % 2 == 1 ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                                 : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 + dj * d;
    d = std::fabs(d) < tiny ? 1 / tiny : 1 / d;
    c = 1 + dj / c;
    if (std::fabs(c) < tiny) c = tiny;
    const double delta = c * d;
    f *= delta;
    if (std::fabs(delta - 1) < eps) break;
  }
  // f is now 1 + d1/(1 + d2/...) evaluated as a product; the fraction is its reciprocal.
  return 1 / f;
}
}  // namespace

double regularized_incomplete_beta(double x, double a, double b) {
  MM_CHECK(a > 0 && b > 0 && x >= 0 && x <= 1, "incomplete beta: need a, b > 0 and 0 <= x <= 1");
  if (x == 0 || x == 1) return x;
  // x^a (1 - x)^b / (a B(a, b)), in logs.
  const double log_front = a * std::log(x) + b * std::log1p(-x) + std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b);
  if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) / a * beta_fraction(x, a, b);
  return 1 - std::exp(log_front) / b * beta_fraction(1 - x, b, a);
}

double student_t_cdf(double t, double df) {
  MM_CHECK(df > 0, "Student t: degrees of freedom must be > 0, got ", df);
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  const double tail = 0.5 * regularized_incomplete_beta(df / (df + t * t), df / 2, 0.5);  // P(T > |t|)
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  MM_CHECK(p > 0 && p < 1, "Student t quantile: p must be in (0, 1), got ", p);
  if (p < 0.5) return -student_t_quantile(1 - p, df);
  if (p == 0.5) return 0;
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    MM_CHECK(hi < 1e300, "Student t quantile: no bracket for p = ", p, ", df = ", df);
  }
  for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double welch_df(double var_a, double n_a, double var_b, double n_b) {
  const double qa = var_a / n_a, qb = var_b / n_b;
  return (qa + qb) * (qa + qb) / (qa * qa / (n_a - 1) + qb * qb / (n_b - 1));
}

WelchInterval welch_interval(const std::vector<double>& a, const std::vector<double>& b, double confidence) {
  WelchInterval w;
  if (a.size() < 2 || b.size() < 2) return w;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  const double va = sample_sd(a) * sample_sd(a), vb = sample_sd(b) * sample_sd(b);
  w.difference = mean_of(a) - mean_of(b);
  w.standard_error = std::sqrt(va / na + vb / nb);
  if (!(w.standard_error > 0)) return w;
  w.df = welch_df(va, na, vb, nb);
  const double t = student_t_quantile(0.5 + confidence / 2, w.df);
  w.low = w.difference - t * w.standard_error;
  w.high = w.difference + t * w.standard_error;
  w.valid = true;
  return w;
}

}  // namespace mmengine
