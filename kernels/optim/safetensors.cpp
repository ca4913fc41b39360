// safetensors writer and reader (see safetensors.hpp). The header's JSON is parsed by a small
// recursive-descent parser that knows what the format uses: objects, arrays, strings and
// integers (true, false, null and fractions are refused: the format has none).
#include "kernels/optim/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

namespace ft::optim {

namespace {

constexpr std::uint64_t kMaxHeader = 100u << 20;  // the reference implementation's limit

struct Json {
  enum class Kind { object, array, string, integer } kind = Kind::integer;
  std::vector<std::pair<std::string, Json>> members;  // object, in file order
  std::vector<Json> items;                            // array
  std::string text;                                   // string
  std::int64_t number = 0;                            // integer
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  Json document() {
    Json v = value(0);
    skip_space();
    if (i_ != s_.size()) fail("text after the JSON object");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("header JSON, byte " + std::to_string(i_) + ": " + what);
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  void expect(char c) {
    skip_space();
    if (i_ >= s_.size() || s_[i_] != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  Json value(int depth) {
    if (depth > 8) fail("nested too deeply");
    skip_space();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      v.kind = Json::Kind::object;
      ++i_;
      skip_space();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, v;
      do {
        skip_space();
        std::string key = string();
        expect(':');
        v.members.emplace_back(std::move(key), value(depth + 1));
        skip_space();
      } while (i_ < s_.size() && s_[i_] == ',' && ++i_);
      expect('}');
    } else if (c == '[') {
      v.kind = Json::Kind::array;
      ++i_;
      skip_space();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, v;
      do v.items.push_back(value(depth + 1));
      while ((skip_space(), i_ < s_.size() && s_[i_] == ',' && ++i_));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::Kind::string;
      v.text = string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.number = integer();
    } else {
      fail(std::string("unexpected '") + c + "'");
    }
    return v;
  }
  std::int64_t integer() {
    const bool negative = s_[i_] == '-';
    if (negative) ++i_;
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') fail("expected a digit");
    std::uint64_t n = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (n > (std::uint64_t{1} << 62)) fail("integer too large");
      n = n * 10 + static_cast<std::uint64_t>(s_[i_++] - '0');
    }
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))
      fail("expected an integer");
    return negative ? -static_cast<std::int64_t>(n) : static_cast<std::int64_t>(n);
  }
  void utf8(std::uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  std::string string() {
    if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      const char e = s_[i_++];
      const char* simple = std::strchr("\"\\/bfnrt", e);
      if (simple && e != '\0') {
        out += "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
      } else if (e == 'u' && i_ + 4 <= s_.size()) {
        std::uint32_t cp = 0;
        for (int k = 0; k < 4; ++k) {
          const char h = s_[i_++];
          const int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
          if (d < 0) fail("bad \\u escape");
          cp = cp * 16 + static_cast<std::uint32_t>(d);
        }
        utf8(cp, out);
      } else {
        fail("bad escape");
      }
    }
  }
  const std::string& s_;
  std::size_t i_ = 0;
};

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

std::string errno_text() { return std::strerror(errno); }

// Writes bytes to a temp file beside path, fsyncs, renames over path, fsyncs the folder.
void write_atomically(const std::filesystem::path& path, const std::string& header,
                      const std::vector<SafetensorsEntry>& entries) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  const auto fail = [&](const std::string& what) {
    if (f) std::fclose(f);
    std::remove(tmp.c_str());
    throw std::runtime_error("safetensors " + path.string() + ": " + what);
  };
  if (!f) fail("cannot create " + tmp.string() + ": " + errno_text());
  const std::uint64_t n = header.size();
  unsigned char len[8];
  for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>(n >> (8 * k));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(header.data(), 1, n, f) == n;
  std::vector<std::int64_t> ints;
  for (const auto& e : entries) {
    if (!ok) break;
    if (e.as_int64) {
      ints.resize(e.data->size());
      std::transform(e.data->begin(), e.data->end(), ints.begin(),
                     [](float v) { return static_cast<std::int64_t>(std::llround(v)); });
      ok = std::fwrite(ints.data(), 8, ints.size(), f) == ints.size();
    } else {
      ok = std::fwrite(e.data->data(), 4, e.data->size(), f) == e.data->size();
    }
  }
  if (!ok || std::fflush(f) != 0) fail("write to " + tmp.string() + " failed: " + errno_text());
  if (::fsync(::fileno(f)) != 0) fail("fsync of " + tmp.string() + " failed: " + errno_text());
  const int closed = std::fclose(f);
  f = nullptr;
  if (closed != 0) fail("close of " + tmp.string() + " failed: " + errno_text());
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("rename failed: " + errno_text());
  const std::filesystem::path dir = path.parent_path();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void save_safetensors(const std::vector<SafetensorsEntry>& entries,
                      const std::map<std::string, std::string>& metadata,
                      const std::filesystem::path& path) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += (first ? "" : ",") + json_string(k) + ":" + json_string(v);
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const auto& e : entries) {
    if (!e.data || static_cast<std::int64_t>(e.data->size()) != element_count(e.shape))
      throw std::runtime_error("safetensors " + path.string() + ": tensor '" + e.name +
                               "' does not hold its shape's element count");
    const std::uint64_t bytes = e.data->size() * (e.as_int64 ? 8 : 4);
    std::string shape;
    for (const auto d : e.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += (header.size() > 1 ? "," : "") + json_string(e.name) + ":{\"dtype\":\"" +
              (e.as_int64 ? "I64" : "F32") + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  write_atomically(path, header, entries);
}

namespace {

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31)
    v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

// Element size of a dtype the reader converts, 0 when unknown.
std::size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64") return 8;
  if (d == "F32" || d == "I32") return 4;
  if (d == "F16" || d == "BF16") return 2;
  return 0;
}

void convert(const std::string& dtype, const unsigned char* p, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    if (dtype == "F32") {
      std::memcpy(&out[i], p + 4 * i, 4);
    } else if (dtype == "F64") {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      out[i] = static_cast<float>(d);
    } else if (dtype == "I64") {
      std::int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      out[i] = static_cast<float>(v);
    } else if (dtype == "I32") {
      std::int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      out[i] = static_cast<float>(v);
    } else {
      std::uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      if (dtype == "F16") {
        out[i] = half_to_float(h);
      } else {
        const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
    }
  }
}

const Json* member(const Json& obj, const char* key) {
  for (const auto& [k, v] : obj.members)
    if (k == key) return &v;
  return nullptr;
}

// One tensor entry of the header, checked against the data region of `data_size` bytes.
TensorRecord read_entry(const std::string& name, const Json& e, const unsigned char* data,
                        std::uint64_t data_size, std::string& dtype,
                        std::vector<std::pair<std::uint64_t, std::uint64_t>>& spans) {
  const auto bad = [&](const std::string& what) {
    throw std::runtime_error("tensor '" + name + "': " + what);
  };
  const Json* dt = member(e, "dtype");
  const Json* shape = member(e, "shape");
  const Json* off = member(e, "data_offsets");
  if (e.kind != Json::Kind::object || !dt || dt->kind != Json::Kind::string || !shape ||
      shape->kind != Json::Kind::array || !off || off->kind != Json::Kind::array ||
      off->items.size() != 2)
    bad("needs \"dtype\" (a string), \"shape\" (an array) and \"data_offsets\" ([begin, end])");
  dtype = dt->text;
  const std::size_t size = dtype_size(dtype);
  if (size == 0) bad("dtype " + dtype + " is not one of F32, F64, F16, BF16, I64, I32");
  TensorRecord rec;
  std::uint64_t count = 1;
  for (const Json& d : shape->items) {
    if (d.kind != Json::Kind::integer || d.number < 0 || d.number > (std::int64_t{1} << 40))
      bad("a shape entry is not a non-negative integer");
    rec.shape.push_back(d.number);
    count *= static_cast<std::uint64_t>(d.number);
    if (count > (std::uint64_t{1} << 40)) bad("the shape holds too many elements");
  }
  for (const Json& o : off->items)
    if (o.kind != Json::Kind::integer || o.number < 0) bad("data_offsets are not non-negative");
  const auto begin = static_cast<std::uint64_t>(off->items[0].number);
  const auto end = static_cast<std::uint64_t>(off->items[1].number);
  if (begin > end || end > data_size)
    bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
        "] lie outside the " + std::to_string(data_size) + " data bytes");
  if (end - begin != count * size)
    bad("data_offsets span " + std::to_string(end - begin) + " bytes but " + dtype + " x " +
        shape_string(rec.shape) + " needs " + std::to_string(count * size));
  spans.emplace_back(begin, end);
  rec.data.resize(count);
  convert(dtype, data + begin, count, rec.data.data());
  return rec;
}

std::vector<unsigned char> read_whole_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(std::filesystem::exists(path, ec) ? "not a regular file"
                                                               : "no such file");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw std::runtime_error("cannot open: " + errno_text());
  std::vector<unsigned char> bytes(std::filesystem::file_size(path, ec));
  if (std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    throw std::runtime_error("read failed: " + errno_text());
  return bytes;
}

}  // namespace

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  try {
    const std::vector<unsigned char> bytes = read_whole_file(path);
    if (bytes.size() < 8) throw std::runtime_error("shorter than the 8-byte header length");
    std::uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | bytes[static_cast<std::size_t>(k)];
    if (n > kMaxHeader || n > bytes.size() - 8)
      throw std::runtime_error("header length " + std::to_string(n) + " exceeds the file (" +
                               std::to_string(bytes.size()) + " bytes) or 100 MiB");
    const std::string header(reinterpret_cast<const char*>(bytes.data() + 8), n);
    const Json doc = JsonParser(header).document();
    if (doc.kind != Json::Kind::object) throw std::runtime_error("the header is not an object");
    SafetensorsFile out;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
    for (const auto& [name, e] : doc.members) {
      if (name == "__metadata__") {
        for (const auto& [k, v] : e.members)
          if (v.kind == Json::Kind::string) out.metadata[k] = v.text;
        continue;
      }
      if (out.tensors.contains(name)) throw std::runtime_error("tensor '" + name + "' twice");
      std::string dtype;
      out.tensors[name] =
          read_entry(name, e, bytes.data() + 8 + n, bytes.size() - 8 - n, dtype, spans);
      out.dtypes[name] = dtype;
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i)
      if (spans[i].first < spans[i - 1].second && spans[i].first != spans[i].second)
        throw std::runtime_error("two tensors' data_offsets overlap");
    return out;
  } catch (const std::exception& e) {
    throw std::runtime_error("safetensors " + path.string() + ": " + e.what());
  }
}

Checkpoint safetensors_as_checkpoint(const std::filesystem::path& path) {
  SafetensorsFile file = load_safetensors(path);
  Checkpoint ck;
  ck.source = path.string();
  for (auto& [name, rec] : file.tensors) ck.tensors["model." + name] = std::move(rec);
  return ck;
}

}  // namespace ft::optim
