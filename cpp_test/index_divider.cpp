// Int32Divider (the GPU's 32-bit index division) against plain division: every
// divisor up to 4096 and the powers of two and their neighbours, at numerators
// near 0, near multiples of the divisor, near 2^31 and at random.
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "../csrc/common/window.h"

int main() {
  using pooling_ext::Int32Divider;
  std::vector<int64_t> divisors;
  for (int64_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (int s = 12; s <= 30; ++s) {
    for (int64_t delta = -3; delta <= 3; ++delta) divisors.push_back((int64_t(1) << s) + delta);
  }
  divisors.push_back(INT32_MAX);
  divisors.push_back(INT32_MAX - 1);
  std::mt19937_64 rng(7);
  int64_t checked = 0, wrong = 0;
  for (const int64_t d : divisors) {
    const Int32Divider divider(d);
    std::vector<int64_t> numerators;
    for (int64_t n = 0; n < 64; ++n) numerators.push_back(n);
    for (int64_t n = INT32_MAX - 64; n <= INT32_MAX; ++n) numerators.push_back(n);
    for (int64_t k = 1; k < 64; ++k) {
      const int64_t multiple = (INT32_MAX / d) * k / 64 * d;
      for (int64_t delta = -1; delta <= 1; ++delta) {
        if (multiple + delta >= 0 && multiple + delta <= INT32_MAX) numerators.push_back(multiple + delta);
      }
    }
    for (int k = 0; k < 2000; ++k) numerators.push_back(static_cast<int64_t>(rng() % (uint64_t(INT32_MAX) + 1)));
    for (const int64_t n : numerators) {
      ++checked;
      if (divider.quotient(static_cast<int32_t>(n)) != n / d) {
        if (++wrong <= 10)
          std::printf("%lld / %lld: got %d\n", (long long)n, (long long)d, divider.quotient(static_cast<int32_t>(n)));
      }
    }
  }
  std::printf("%lld quotients checked, %lld wrong\n", (long long)checked, (long long)wrong);
  return wrong == 0 ? 0 : 1;
}
