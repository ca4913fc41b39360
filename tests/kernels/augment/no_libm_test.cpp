// The code that must give the same bits on the CPU and the GPU (the FT_HD functors of pixel.hpp,
// affine.hpp, each op's ops/<name>.hpp, types.hpp, philox.hpp, basic_math.hpp, sgd_math.hpp; the
// CUDA kernels checked bit for bit against the CPU loops, and those loops) uses IEEE basic
// operations only: libm's and CUDA's transcendentals (and CUDA's fast intrinsics) differ in the
// last bits. Two guards:
// - this file poisons their names, then includes the shared headers: any use there is a compile
//   error, so the build of test_no_libm fails;
// - a scan of the sources, which also sees the device-only (#if __CUDA_ARCH__) branches the host
//   compiler skips, and the .cpp loops. The names scanned are read from the pragmas below.
#include <doctest/doctest.h>
#include <math.h>  // before the poison: libstdc++'s <math.h> re-declares every name

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

// clang-format off: the emulation must come before the kernel headers
#include "tests/cuda_emulation.hpp"
// clang-format on

// clang-format off
#pragma GCC poison acosf asinf atanf atan2f cosf sinf tanf sincosf coshf sinhf tanhf
#pragma GCC poison acoshf asinhf atanhf expf exp2f exp10f expm1f logf log2f log10f log1pf
#pragma GCC poison powf cbrtf hypotf erff erfcf lgammaf tgammaf
#pragma GCC poison acos asin atan atan2 cos sin tan sincos cosh sinh tanh acosh asinh atanh
#pragma GCC poison exp exp2 exp10 expm1 log log2 log10 log1p pow cbrt hypot erf erfc
#pragma GCC poison lgamma tgamma expl logl sinl cosl powl
#pragma GCC poison __expf __exp10f __logf __log2f __log10f __sinf __cosf __sincosf __tanf
#pragma GCC poison __powf __fdividef rsqrtf rsqrt rcbrtf sinpif cospif sincospif sinpi cospi
#pragma GCC poison sincospi normcdff erfinvf erfcinvf
#pragma GCC poison __builtin_expf __builtin_logf __builtin_sinf __builtin_cosf __builtin_powf
#pragma GCC poison __builtin_exp __builtin_log __builtin_sin __builtin_cos __builtin_pow
// clang-format on

// Unused static kernels of kernels.cuh are expected here: only the lexical check matters.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "kernels/augment/affine.hpp"
#include "kernels/augment/cuda_kernels.cuh"
#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops/functor.hpp"
#include "kernels/augment/ops/functors.hpp"  // every op's functor header
#include "kernels/augment/pixel.hpp"
#include "kernels/augment/types.hpp"
#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/geometry.hpp"
#include "kernels/optim/sgd_math.hpp"
#include "kernels/random/basic_math.hpp"
#include "kernels/random/philox.hpp"
#pragma GCC diagnostic pop

namespace {

// Sources whose arithmetic must match across CPU and GPU: the headers above and the CPU loops
// that the augment kernels are compared with bit for bit.
const char* const kSources[] = {
    "kernels/random/philox.hpp",        "kernels/random/basic_math.hpp",
    "kernels/augment/types.hpp",        "kernels/augment/pixel.hpp",
    "kernels/augment/affine.hpp",       "kernels/augment/geometry.hpp",
    "kernels/nn/geometry.hpp",          "kernels/augment/cuda_plan.hpp",
    "kernels/augment/cuda_kernels.cuh", "kernels/augment/cpu.cpp",
    "kernels/optim/sgd_math.hpp",       "kernels/nn/cuda/kernels.cuh",
    "kernels/augment/ops/functor.hpp",  "kernels/augment/ops/functors.hpp",
};

// Each op's functor header and file (kernels/augment/ops), from the op list itself: its per-pixel
// code, its CPU loop dispatch and its integer draws. The draws' libm (log, exp, the affine matrix)
// stays in draw.cpp, before the parameters are shared.
#define FT_OP_FILES(name) "kernels/augment/ops/" #name ".hpp", "kernels/augment/ops/" #name ".cpp",
const char* const kOpSources[] = {FT_AUGMENT_OPS(FT_OP_FILES)};
#undef FT_OP_FILES

std::string read_source(const std::string& relative) {
  const char* root = std::getenv("FT_SOURCE_ROOT");
  const std::string path = std::string(root ? root : ".") + "/" + relative;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path << " (set FT_SOURCE_ROOT)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The identifiers of C++ source, comments and string / character literals left out.
std::vector<std::string> identifiers(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 2, "//") == 0) {
      i = s.find('\n', i);
    } else if (s.compare(i, 2, "/*") == 0) {
      i = s.find("*/", i + 2);
      if (i != std::string::npos) i += 2;
    } else if (s[i] == '"' || (s[i] == '\'' && (i == 0 || !ident_char(s[i - 1])))) {
      const char quote = s[i++];
      while (i < s.size() && s[i] != quote) i += s[i] == '\\' ? 2 : 1;
      ++i;
    } else if (ident_char(s[i])) {
      const std::size_t start = i;
      while (i < s.size() && ident_char(s[i])) ++i;
      if (!std::isdigit(static_cast<unsigned char>(s[start])))
        out.push_back(s.substr(start, i - start));
    } else {
      ++i;
    }
  }
  return out;
}

// The names poisoned above, read back from this file.
std::set<std::string> poisoned_names() {
  std::istringstream lines(read_source("tests/kernels/augment/no_libm_test.cpp"));
  std::set<std::string> names;
  const std::string directive = "#pragma GCC poison ";
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with(directive)) {
      std::istringstream words(line.substr(directive.size()));
      for (std::string w; words >> w;) names.insert(w);
    }
  return names;
}

std::vector<std::string> banned_in(const std::string& text, const std::set<std::string>& banned) {
  std::vector<std::string> hits;
  for (const std::string& id : identifiers(text))
    if (banned.count(id)) hits.push_back(id);
  return hits;
}

}  // namespace

TEST_CASE("the shared functors compile with libm's transcendentals poisoned, and run") {
  // Reaching run time is the check; these calls instantiate the templates and show the
  // functions usable as included here.
  float even = 0, odd = 0;
  ft::aug::erase_noise_pair(1, 2, 3, 4, 6, even, odd);
  CHECK(even == ft::aug::erase_noise(1, 2, 3, 4, 6));
  CHECK(odd == ft::aug::erase_noise(1, 2, 3, 4, 7));
  float rt[6];
  const float m[6] = {1, 0, 0, 0, 1, 0};
  ft::aug::affine_rescale(m, 4, 4, rt);
  const std::uint8_t in[4 * 4 * 3] = {};
  std::uint8_t px[3];
  ft::aug::affine_pixel(px, in, 4, 4, 3, rt, 1, 2, ft::aug::Interp::bilinear, false, nullptr, 0);
  CHECK(px[0] == 0);
  float value = 1, buf = 0;
  ft::optim::sgd_element<true, true, true>(value, 0.5f, &buf, -0.1f, 0.9f, 1.0f, 0.0f);
  CHECK(buf == 0.5f);
  CHECK(ft::nn::cuda::philox_uniform_at(1, 2, 3, 4, 5) < 1.0f);
}

TEST_CASE("no source shared by the CPU and GPU paths names a libm or CUDA transcendental") {
  const std::set<std::string> banned = poisoned_names();
  REQUIRE(banned.size() > 90);
  REQUIRE(banned.count("logf") == 1);
  REQUIRE(banned.count("__sinf") == 1);
  // The scanner itself: a call is found through std:: and casts; comments, strings and longer
  // names are not calls.
  CHECK(banned_in("x = std::sin(y) + (float)expf(z);", banned) ==
        std::vector<std::string>{"sin", "expf"});
  CHECK(banned_in("// sinf\n/* cosf */ s = \"logf\"; c = 'l'; sinful(1'000); log_basic(x);", banned)
            .empty());
  std::vector<const char*> files(std::begin(kSources), std::end(kSources));
  files.insert(files.end(), std::begin(kOpSources), std::end(kOpSources));
  REQUIRE(std::size(kOpSources) == 2 * ft::aug::kNumOps);
  for (const char* file : files) {
    const std::vector<std::string> hits = banned_in(read_source(file), banned);
    CHECK_MESSAGE(hits.empty(), file << " calls " << (hits.empty() ? "" : hits.front())
                                     << ": use kernels/random/basic_math.hpp (IEEE basic "
                                        "operations only), or keep it on the host");
  }
}
