// Small-sample statistics for the study's table: mean, sample standard deviation, the
// pooled standard deviation, Student's t distribution (CDF and quantile, through the
// regularized incomplete beta function, computed here) and Welch's t-interval for a
// difference of two means with the Welch-Satterthwaite degrees of freedom.
#pragma once
#include <vector>

namespace mmengine {

double mean_of(const std::vector<double>& v);
// Sample standard deviation (n - 1 in the denominator); 0 for fewer than 2 values.
double sample_sd(const std::vector<double>& v);
// sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2)); needs n1 + n2 > 2.
double pooled_sd(const std::vector<double>& a, const std::vector<double>& b);

// I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1
// (continued fraction evaluated with the modified Lentz method; relative error ~1e-14).
double regularized_incomplete_beta(double x, double a, double b);
// P(T <= t) for Student's t with df > 0 degrees of freedom (df need not be an integer).
double student_t_cdf(double t, double df);
// The p-quantile of Student's t (0 < p < 1), by bisection on the CDF to ~1e-12.
double student_t_quantile(double p, double df);

// Welch's interval for mean(a) - mean(b). Needs at least 2 values in each and a nonzero
// standard error; otherwise `valid` is false.
struct WelchInterval {
  bool valid = false;
  double difference = 0, standard_error = 0, df = 0, low = 0, high = 0;
};
// Welch-Satterthwaite: (va/na + vb/nb)^2 / ((va/na)^2 / (na - 1) + (vb/nb)^2 / (nb - 1)).
double welch_df(double var_a, double n_a, double var_b, double n_b);
WelchInterval welch_interval(const std::vector<double>& a, const std::vector<double>& b, double confidence = 0.95);

}  // namespace mmengine
