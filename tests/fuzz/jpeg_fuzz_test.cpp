// Fuzz target (b): JPEG bytes through kernels/io/jpeg (decode_jpeg, and JpegDecoder's header then
// decode into a buffer with guard bytes after it). std::runtime_error is the kernel's expected
// failure. Seeds are small JPEGs made here with TurboJPEG (grey, 4:4:4, 4:2:0, progressive, CMYK);
// most mutations target the header segments: SOF dimensions, precision, component count and
// sampling, DQT/DHT/SOS fields and lengths, and the segments' order.
#include <doctest/doctest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/io/jpeg.hpp"
#include "tests/fuzz/fuzz_driver.hpp"

using namespace ft;

namespace {

constexpr std::uint64_t kSeed = 0x5eed1e9;
// About 3 s in a release build on a 2-core machine (6 s under tools/sanitize.sh).
constexpr std::int64_t kIterations = 30000;
// The pixel limit of most inputs, and the most a guarded decode (a buffer of exactly the header's
// size, then guard bytes) allocates for.
constexpr std::size_t kGuardedPixels = std::size_t{1} << 22;
constexpr std::size_t kGuardBytes = 64;

std::vector<std::uint8_t> pattern(int h, int w, int c) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h) * w * c);
  for (std::size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<std::uint8_t>((i * 37) ^ (i >> 3));
  return px;
}

std::string compress(int h, int w, int pf, int subsamp, int quality, int flags) {
  const int c = tjPixelSize[pf];
  const auto px = pattern(h, w, c);
  tjhandle t = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  const int rc = tjCompress2(t, px.data(), w, w * c, h, pf, &buf, &len, subsamp, quality, flags);
  std::string out = rc == 0 ? std::string(reinterpret_cast<char*>(buf), len) : std::string();
  tjFree(buf);
  tjDestroy(t);
  REQUIRE_MESSAGE(rc == 0, "seed JPEG " << h << "x" << w << " pf " << pf);
  return out;
}

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> s = {
      compress(8, 8, TJPF_GRAY, TJSAMP_GRAY, 95, 0),
      compress(7, 13, TJPF_GRAY, TJSAMP_GRAY, 50, 0),
      compress(16, 16, TJPF_RGB, TJSAMP_444, 95, 0),
      compress(9, 17, TJPF_RGB, TJSAMP_420, 75, 0),
      compress(16, 24, TJPF_RGB, TJSAMP_422, 90, TJFLAG_PROGRESSIVE),
      compress(8, 32, TJPF_RGB, TJSAMP_440, 80, 0),
      compress(8, 8, TJPF_CMYK, TJSAMP_444, 90, 0),  // an Adobe YCCK JPEG
      compress(1, 1, TJPF_RGB, TJSAMP_444, 95, 0),
  };
  return s;
}

std::vector<std::string> dictionary() {
  std::vector<std::string> d;
  for (unsigned m : {0xD8u, 0xD9u, 0xC0u, 0xC1u, 0xC2u, 0xC3u, 0xC4u, 0xCCu, 0xDAu, 0xDBu, 0xDDu,
                     0xE0u, 0xEEu, 0xFEu, 0xD0u, 0xD7u, 0x00u, 0xFFu})
    d.push_back(std::string{'\xff', static_cast<char>(m)});
  d.push_back(std::string("\xff\xdd\x00\x04\x00\x01", 6));
  d.push_back(
      std::string("\xff\xee\x00\x0e"
                  "Adobe\x00\x64\x00\x00\x00\x00\x02",
                  16));
  d.push_back(std::string("JFIF\x00", 5));
  return d;
}

// Marker segments after SOI: the 0xFF's offset and the segment's size including the marker (for
// SOS: without the entropy-coded data after it).
struct Segment {
  unsigned char marker;
  std::size_t at, size;
};

unsigned byte_at(const std::string& s, std::size_t i) { return static_cast<unsigned char>(s[i]); }

std::vector<Segment> segments(const std::string& s) {
  std::vector<Segment> out;
  std::size_t i = 2;
  while (i + 4 <= s.size() && byte_at(s, i) == 0xFF && byte_at(s, i + 1) != 0xD9) {
    const std::size_t size = 2 + (byte_at(s, i + 2) << 8 | byte_at(s, i + 3));
    out.push_back({static_cast<unsigned char>(byte_at(s, i + 1)), i, size});
    i += size;
    if (out.back().marker == 0xDA)
      while (i + 1 < s.size() && !(byte_at(s, i) == 0xFF && byte_at(s, i + 1) != 0 &&
                                   (byte_at(s, i + 1) < 0xD0 || byte_at(s, i + 1) > 0xD7)))
        ++i;
  }
  return out;
}

bool is_sof(unsigned char m) {
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

void put8(std::string& s, std::size_t at, unsigned v) {
  if (at < s.size()) s[at] = static_cast<char>(v);
}
void put16(std::string& s, std::size_t at, unsigned v) {
  put8(s, at, v >> 8);
  put8(s, at + 1, v & 0xFF);
}

const Segment* find(const std::vector<Segment>& segs, fuzz::Rng& rng, bool (*want)(unsigned char)) {
  std::vector<const Segment*> v;
  for (const auto& g : segs)
    if (want(g.marker)) v.push_back(&g);
  return v.empty() ? nullptr : v[rng.below(v.size())];
}

unsigned interesting16(fuzz::Rng& rng, unsigned was) {
  static const std::vector<unsigned> v = {0,    1,     2,     7,     8,     9,    15,
                                          16,   17,    255,   256,   1000,  4095, 4096,
                                          8192, 16384, 32767, 32768, 65000, 65535};
  switch (rng.below(4)) {
    case 0:
      return (was + 1 + rng.below(3)) & 0xFFFF;
    case 1:
      return (was - 1 - rng.below(3)) & 0xFFFF;
    case 2:
      return static_cast<unsigned>(rng.below(65536));
    default:
      return rng.pick(v);
  }
}

void mutate_jpeg(std::string& s, fuzz::Rng& rng, const std::vector<std::string>& dict) {
  const auto segs = segments(s);
  if (segs.empty() || rng.chance(3)) return fuzz::mutate_bytes(s, rng, dict);
  const Segment* sof = find(segs, rng, is_sof);
  const Segment* dqt = find(segs, rng, [](unsigned char m) { return m == 0xDB; });
  const Segment* dht = find(segs, rng, [](unsigned char m) { return m == 0xC4; });
  const Segment* sos = find(segs, rng, [](unsigned char m) { return m == 0xDA; });
  const Segment& any = segs[rng.below(segs.size())];
  switch (rng.below(9)) {
    case 0:  // dimensions
      if (sof) {
        const std::size_t at = sof->at + (rng.chance(2) ? 5 : 7);
        put16(s, at,
              interesting16(rng, at + 1 < s.size() ? byte_at(s, at) << 8 | byte_at(s, at + 1) : 0));
      }
      break;
    case 1:  // precision or component count
      if (sof) {
        static const std::vector<unsigned> prec = {0, 1, 8, 12, 16, 255},
                                           comps = {0, 1, 2, 3, 4, 5, 255};
        rng.chance(2) ? put8(s, sof->at + 4, rng.pick(prec))
                      : put8(s, sof->at + 9, rng.pick(comps));
      }
      break;
    case 2:  // one component's id, sampling factors or quantisation table
      if (sof && sof->at + 9 < s.size()) {
        const std::size_t c = sof->at + 10 + 3 * rng.below(std::max(1u, byte_at(s, sof->at + 9)));
        switch (rng.below(3)) {
          case 0:
            put8(s, c, static_cast<unsigned>(rng.next()));
            break;
          case 1:
            put8(s, c + 1,
                 rng.chance(2) ? static_cast<unsigned>(rng.next())
                               : (1 + rng.below(4)) << 4 | (1 + rng.below(4)));
            break;
          default:
            put8(s, c + 2, static_cast<unsigned>(rng.below(5)));
        }
      }
      break;
    case 3:  // another SOF type (extended, progressive, lossless, arithmetic, hierarchical)
      if (sof) put8(s, sof->at + 1, 0xC0 + static_cast<unsigned>(rng.below(16)));
      break;
    case 4: {  // a segment's length
      static const std::vector<int> delta = {-1, 1, 16, -16};
      const unsigned len = static_cast<unsigned>(any.size - 2);
      const unsigned v = rng.chance(2)
                             ? static_cast<unsigned>(static_cast<int>(len) + rng.pick(delta))
                             : interesting16(rng, len);
      put16(s, any.at + 2, v & 0xFFFF);
      break;
    }
    case 5:  // DQT precision/id or a zero quantiser
      if (dqt) {
        static const std::vector<unsigned> pq = {0x00, 0x01, 0x02, 0x03, 0x04,
                                                 0x10, 0x11, 0x13, 0xFF};
        rng.chance(2) ? put8(s, dqt->at + 4, rng.pick(pq))
                      : put8(s, dqt->at + 5 + rng.below(64), rng.chance(2) ? 0 : 255);
      }
      break;
    case 6:  // DHT class/id, a code count, or a symbol
      if (dht) {
        static const std::vector<unsigned> tc = {0x00, 0x01, 0x10, 0x11, 0x02, 0x13, 0x20, 0xFF};
        switch (rng.below(3)) {
          case 0:
            put8(s, dht->at + 4, rng.pick(tc));
            break;
          case 1:
            put8(s, dht->at + 5 + rng.below(16),
                 rng.chance(2) ? 0xFF : static_cast<unsigned>(rng.below(256)));
            break;
          default:
            put8(s, dht->at + 21 + rng.below(std::max<std::size_t>(1, dht->size - 21)),
                 static_cast<unsigned>(rng.next()));
        }
      }
      break;
    case 7:  // SOS component count, selectors and tables, spectral selection and approximation
      if (sos) {
        const std::size_t end = sos->at + sos->size;
        switch (rng.below(3)) {
          case 0:
            put8(s, sos->at + 4, static_cast<unsigned>(rng.below(6)));
            break;
          case 1:
            put8(s, sos->at + 5 + rng.below(std::max<std::size_t>(1, sos->size - 8)),
                 static_cast<unsigned>(rng.next()));
            break;
          default: {
            static const std::vector<unsigned> v = {0, 1, 63, 64, 0x10, 0x11, 0xFF};
            put8(s, end - 1 - rng.below(3),
                 rng.chance(2) ? rng.pick(v) : static_cast<unsigned>(rng.next()));
          }
        }
      }
      break;
    default:  // structure: drop, duplicate or move a segment; DRI or Adobe segment; truncate
      switch (rng.below(5)) {
        case 0:
          s.erase(any.at, std::min(any.size, s.size() - any.at));
          break;
        case 1:
          s.insert(any.at, s.substr(any.at, any.size));
          break;
        case 2: {
          const Segment& other = segs[rng.below(segs.size())];
          s.insert(other.at, s.substr(any.at, any.size));
          break;
        }
        case 3:
          s.insert(any.at, rng.pick(dict));
          break;
        default:
          if (sos)
            s.resize(std::min(s.size(), sos->at + sos->size + rng.below(s.size() - sos->at)));
      }
  }
}

fuzz::Input generate(fuzz::Rng& rng) {
  static const std::vector<std::string> dict = dictionary();
  fuzz::Input in;
  in.data = rng.pick(seeds());
  const std::size_t n = 1 + rng.below(rng.chance(4) ? 8 : 2);
  for (std::size_t k = 0; k < n; ++k) mutate_jpeg(in.data, rng, dict);
  // Forced channels, and the pixel limit: mostly small enough that a header claiming a large
  // image is refused quickly, sometimes the default (up to ~89 M pixels are then decoded).
  in.args = {std::to_string(rng.pick(std::vector<int>{0, 0, 1, 3})),
             std::to_string(rng.chance(8) ? io::kDefaultMaxPixels : std::int64_t{kGuardedPixels})};
  return in;
}

const std::vector<std::uint8_t>& reference_pixels() {
  static const std::vector<std::uint8_t> px = [] {
    const std::string& j = seeds()[3];
    io::JpegInfo info;
    return io::decode_jpeg(reinterpret_cast<const std::uint8_t*>(j.data()), j.size(), info,
                           "ref.jpg");
  }();
  return px;
}

void decode_target(const fuzz::Input& in) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(in.data.data());
  const std::size_t size = in.data.size();
  const int forced = std::stoi(in.args.at(0));
  const std::int64_t max_pixels = std::stoll(in.args.at(1));
  try {
    io::JpegInfo info;
    const auto px = io::decode_jpeg(data, size, info, "fuzz.jpg", forced, max_pixels);
    if (info.height <= 0 || info.width <= 0 || (info.channels != 1 && info.channels != 3) ||
        (forced && info.channels != forced) ||
        px.size() != static_cast<std::size_t>(info.height) * info.width * info.channels)
      throw fuzz::OracleFailure("decode_jpeg: the pixels do not match the returned JpegInfo");
  } catch (const std::runtime_error&) {
  }
  try {
    io::JpegDecoder& d = io::thread_jpeg_decoder();
    const io::JpegInfo info = d.header(data, size, "fuzz.jpg", max_pixels);
    const std::size_t n = static_cast<std::size_t>(info.height) * info.width * 3;
    if (n / 3 <= kGuardedPixels) {
      std::vector<std::uint8_t> out(n + kGuardBytes, 0xA5);
      try {
        d.decode(data, size, out.data(), info, 3, "fuzz.jpg");
      } catch (const std::runtime_error&) {
      }
      if (std::any_of(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                      [](std::uint8_t b) { return b != 0xA5; }))
        throw fuzz::OracleFailure("JpegDecoder::decode wrote past height x width x channels");
    }
  } catch (const std::runtime_error&) {
  }
  // Whatever the input did to this thread's decoder, a valid image decodes as before.
  const std::string& j = seeds()[3];
  io::JpegInfo info;
  if (io::decode_jpeg(reinterpret_cast<const std::uint8_t*>(j.data()), j.size(), info, "ref.jpg") !=
      reference_pixels())
    throw fuzz::OracleFailure("a valid JPEG decodes differently after this input");
}

}  // namespace

TEST_CASE("fuzz: JPEG header and decode fail only with std::runtime_error (bounded, fixed seed)") {
  (void)reference_pixels();
  fuzz::Target t{"jpeg", generate, decode_target, {}};
  const fuzz::Report r = fuzz::run_fuzz(t, fuzz::Options::from_env(kSeed, kIterations));
  MESSAGE("jpeg fuzz: " << r.iterations << " inputs in " << r.seconds << " s");
  CHECK(r.iterations > 0);
  for (const auto& f : r.findings)
    FAIL_CHECK("jpeg fuzz finding at iteration " << f.iteration << ": " << f.what);
}
