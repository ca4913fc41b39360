// The shared oneDNN CPU engine and stream.
#include "kernels/nn/cpu/dnnl_context.hpp"

#include <string>

namespace ft::nn {

std::string to_string(const Shape& s) {
  return "(" + std::to_string(s.n) + ", " + std::to_string(s.c) + ", " + std::to_string(s.h) +
         ", " + std::to_string(s.w) + ")";
}

}  // namespace ft::nn

namespace ft::nn::cpu {

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// One stream per calling thread: a stream is not meant to be shared by threads executing at
// once (say a train stage and an eval stage on two TBB workers, each with its own model).
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

dnnl::memory::desc md_of(const Shape& s) {
  using tag = dnnl::memory::format_tag;
  const tag t = s.layout == Layout::nChw16c  ? tag::nChw16c
                : s.layout == Layout::nChw8c ? tag::nChw8c
                                             : tag::nchw;
  return plain_md({s.n, s.c, s.h, s.w}, t);
}

bool layout_of(const dnnl::memory::desc& md, const Shape& s, Layout& out) {
  for (Layout l : {Layout::nchw, Layout::nChw16c, Layout::nChw8c}) {
    Shape t = s;
    t.layout = l;
    if (md_of(t) == md) {
      out = l;
      return true;
    }
  }
  return false;
}

dnnl::memory::desc plain_md(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag);
}

}  // namespace ft::nn::cpu
