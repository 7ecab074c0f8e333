// Per-element formulas of kernels/elementwise.h, one definition for both devices.
#pragma once
#include <cmath>

#include "kernels/common.h"
#include "kernels/elementwise.h"

namespace mmengine::kernels {

#if !defined(__CUDACC__)
using std::exp;
using std::log;
using std::pow;
#endif

template <typename T>
MM_HD T unary_value(Unary op, T p, T x) {
  switch (op) {
    case Unary::Exp: return exp(x);
    case Unary::Log: return log(x);
    case Unary::Pow: return pow(x, p);
    case Unary::LeakyRelu: return x > T(0) ? x : p * x;
    case Unary::Neg: return -x;
    case Unary::AddScalar: return x + p;
    case Unary::MulScalar: return x * p;
  }
  return T(0);
}

template <typename T>
MM_HD T unary_derivative(Unary op, T p, T x, T y) {
  switch (op) {
    case Unary::Exp: return y;
    case Unary::Log: return T(1) / x;
    case Unary::Pow: return p * pow(x, p - T(1));
    case Unary::LeakyRelu: return x > T(0) ? T(1) : p;
    case Unary::Neg: return T(-1);
    case Unary::AddScalar: return T(1);
    case Unary::MulScalar: return p;
  }
  return T(0);
}

template <typename T>
MM_HD T binary_value(Binary op, T a, T b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
  }
  return T(0);
}

// d(out)/da and d(out)/db
template <typename T>
MM_HD T binary_da(Binary op, T /*a*/, T b) {
  switch (op) {
    case Binary::Add: case Binary::Sub: return T(1);
    case Binary::Mul: return b;
    case Binary::Div: return T(1) / b;
  }
  return T(0);
}

template <typename T>
MM_HD T binary_db(Binary op, T a, T b) {
  switch (op) {
    case Binary::Add: return T(1);
    case Binary::Sub: return T(-1);
    case Binary::Mul: return a;
    case Binary::Div: return -a / (b * b);
  }
  return T(0);
}

}  // namespace mmengine::kernels
