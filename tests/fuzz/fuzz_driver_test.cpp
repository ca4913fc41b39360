// The fuzz driver itself: inputs depend only on (seed, iteration), an escaped exception and an
// allocation over the bound are findings with their input minimized, a known finding is not
// counted, and string literals round-trip through the compiler's escapes.
#include "tests/fuzz/fuzz_driver.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

using namespace ft::fuzz;

namespace {

// Filler text with, now and then, a "BUG" or an "ALLOC" somewhere inside.
Input filler(Rng& rng) {
  Input in;
  in.data = std::string(40 + rng.below(40), '.');
  if (rng.chance(3)) in.data.insert(rng.below(in.data.size()), "BUG");
  if (rng.chance(3)) in.data.insert(rng.below(in.data.size()), "ALLOC");
  in.args = {"a", "b"};
  return in;
}

void buggy(const Input& in) {
  if (in.data.find("BUG") != std::string::npos) throw std::out_of_range("stoul");
  if (in.data.find("ALLOC") != std::string::npos) {
    try {
      std::vector<char> v(std::size_t{3} << 30);  // caught below: still a finding
    } catch (const std::bad_alloc&) {
    }
  }
  if (in.data.find("?") != std::string::npos) throw std::invalid_argument("?");
}

Options quiet(std::int64_t iterations) {
  Options o;
  o.seed = 7;
  o.iterations = iterations;
  o.print_findings = false;
  return o;
}

}  // namespace

TEST_CASE("fuzz driver: an escaped exception and an over-bound allocation are minimized findings") {
  const Report r = run_fuzz(Target{"self", filler, buggy, {}}, quiet(50));
  CHECK(r.iterations == 50);
  REQUIRE(r.findings.size() == 2);
  for (const auto& f : r.findings) {
    if (f.what == "std::out_of_range escaped: stoul") {
      CHECK(f.input.data == "BUG");
    } else {
      CHECK(f.what.rfind("an allocation of 3221225472 bytes", 0) == 0);
      CHECK(f.input.data == "ALLOC");
    }
    CHECK(f.input.args.empty());
  }
}

TEST_CASE("fuzz driver: a known finding is reported apart; the same seed tries the same inputs") {
  const Target t{"self", filler, buggy, {"std::out_of_range escaped: stoul"}};
  const Report a = run_fuzz(t, quiet(50)), b = run_fuzz(t, quiet(50));
  REQUIRE(a.known.size() == 1);
  CHECK(a.known[0].key == "std::out_of_range escaped: stoul");
  REQUIRE(a.findings.size() == 1);
  REQUIRE(b.findings.size() == 1);
  CHECK(a.findings[0].iteration == b.findings[0].iteration);
  CHECK(a.known[0].iteration == b.known[0].iteration);
  Options one = quiet(0);
  one.only = a.known[0].iteration;
  const Report replay = run_fuzz(t, one);
  CHECK(replay.iterations == 1);
  REQUIRE(replay.known.size() == 1);
  CHECK(replay.known[0].input.data == a.known[0].input.data);
}

TEST_CASE("fuzz driver: cpp_literal escapes what a C++ string literal needs") {
  CHECK(cpp_literal("a\"b\\c\nd") == R"("a\"b\\c\nd")");
  // A hex escape followed by a hex digit closes the literal first ("\xff" "a", not "\xffa").
  CHECK(cpp_literal(std::string("\xff"
                                "a\x01g",
                                4)) == R"("\xff" "a\x01g")");
  CHECK(cpp_literal(std::string("\0?", 2)) == R"("\x00\?")");
  CHECK(std::string("\xff"
                    "a\x01g") == std::string("\xff"
                                             "a\x01g",
                                             4));
}
