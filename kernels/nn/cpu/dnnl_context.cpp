// The shared oneDNN CPU engine and stream.
#include "kernels/nn/cpu/dnnl_context.hpp"

#include <string>

namespace ft::nn {

std::string to_string(const Shape& s) {
  return "(" + std::to_string(s.n) + ", " + std::to_string(s.c) + ", " + std::to_string(s.h) + ", " +
         std::to_string(s.w) + ")";
}

}  // namespace ft::nn

namespace ft::nn::cpu {

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

dnnl::memory::desc plain_md(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag);
}

}  // namespace ft::nn::cpu
