// The shared oneDNN CPU engine and stream.
#include "kernels/nn/cpu/dnnl_context.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace ft::nn {

std::string to_string(const Shape& s) {
  return "(" + std::to_string(s.n) + ", " + std::to_string(s.c) + ", " + std::to_string(s.h) +
         ", " + std::to_string(s.w) + ")" + (s.dtype == DataType::bf16 ? " bf16" : "");
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

const dnnl::primitive_attr& scratchpad_attr() {
  static const dnnl::primitive_attr attr = [] {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }();
  return attr;
}

void execute(const dnnl::primitive& p, std::unordered_map<int, dnnl::memory> args) {
  const dnnl_memory_desc_t* md =
      dnnl_primitive_desc_query_md(p.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  if (md && md->ndims > 0) {
    const dnnl::memory::desc scratch(*md);
    const std::size_t bytes = scratch.get_size();
    // The calling thread's scratch buffer: a layer runs on one thread at a time, and execution
    // is synchronous on the CPU (the OpenMP team works while this thread waits).
    thread_local std::vector<unsigned char> buffer;
    if (buffer.size() < bytes) buffer.resize(bytes);
    args.insert_or_assign(DNNL_ARG_SCRATCHPAD, dnnl::memory(scratch, engine(), buffer.data()));
  }
  p.execute(stream(), args);
}

dnnl::reorder make_reorder(const dnnl::memory& src, const dnnl::memory& dst, bool accumulate) {
  if (!accumulate) return dnnl::reorder(dnnl::reorder::primitive_desc(src, dst, scratchpad_attr()));
  dnnl::primitive_attr attr;  // not a copy of scratchpad_attr(): that would share its handle
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops sum;
  sum.append_sum(1.f);
  attr.set_post_ops(sum);
  return dnnl::reorder(dnnl::reorder::primitive_desc(src, dst, attr));
}

dnnl::memory::desc md_of(const Shape& s) {
  using tag = dnnl::memory::format_tag;
  const tag t = s.layout == Layout::nChw16c  ? tag::nChw16c
                : s.layout == Layout::nChw8c ? tag::nChw8c
                                             : tag::nchw;
  return plain_md({s.n, s.c, s.h, s.w}, t, data_type_of(s.dtype));
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

dnnl::memory::desc plain_md(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag,
                            dnnl::memory::data_type type) {
  return dnnl::memory::desc(dims, type, tag);
}

dnnl::memory::data_type data_type_of(DataType dtype) {
  return dtype == DataType::bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

dnnl::memory::data_type input_type(Precision precision) {
  return precision == Precision::bf16 ? dnnl::memory::data_type::bf16
                                      : dnnl::memory::data_type::f32;
}

std::string isa_name(dnnl::cpu_isa isa) {
  using I = dnnl::cpu_isa;
  switch (isa) {
    case I::all:
      return "all";
    case I::sse41:
      return "sse41";
    case I::avx:
      return "avx";
    case I::avx2:
      return "avx2";
    case I::avx512_mic:
      return "avx512_mic";
    case I::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case I::avx512_core:
      return "avx512_core";
    case I::avx512_core_vnni:
      return "avx512_core_vnni";
    case I::avx512_core_bf16:
      return "avx512_core_bf16";
    case I::avx512_core_amx:
      return "avx512_core_amx";
    case I::avx2_vnni:
      return "avx2_vnni";
  }
  return "unknown (" + std::to_string(static_cast<int>(isa)) + ")";
}

void require_bf16(dnnl::cpu_isa isa) {
  // oneDNN's ISA values are bit sets, each holding the ones it extends.
  const auto bits = static_cast<unsigned>(isa),
             bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  if ((bits & bf16) == bf16) return;
  throw std::runtime_error(
      "precision bf16 needs a CPU with bf16 instructions (AVX-512 BF16 or AMX, oneDNN ISA "
      "avx512_core_bf16 or avx512_core_amx); oneDNN reports " +
      isa_name(isa) + " on this CPU: use precision = \"f32\"");
}

}  // namespace ft::nn::cpu
