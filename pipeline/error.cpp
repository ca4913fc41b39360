// Internal-invariant failure: reported as an ft::Error so the graph cancels cleanly.
#include "pipeline/error.hpp"

namespace ft {

void assert_fail(const char* expr, const char* file, int line) {
  throw Error(std::string("internal error (a flowtrain bug): FT_ASSERT(") + expr + ") failed at " +
              file + ":" + std::to_string(line));
}

}  // namespace ft
