// `flowtrain export RUN_DIR --format safetensors` and init_from a .safetensors file, through the
// binary on a synthetic dataset: a pure-Python reader of the format (json + struct only) checks
// the file against torchvision's resnet18 state_dict names and shapes; init_from the exported
// file gives the same weights as init_from the checkpoint; damaged files are refused by name.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/safetensors.hpp"
#include "tests/cli/run_binary.hpp"
#include "tests/cli/synth_config.hpp"

namespace fs = std::filesystem;
using ft::testing::quote;
using ft::testing::read_text;
using ft::testing::Result;
using ft::testing::write_text;

namespace {

// torchvision.models.resnet18(num_classes=4).state_dict(): names, shapes and dtypes, rebuilt from
// the architecture's rules, then compared with the file read by hand (json + struct).
const char* kReader = R"PY(
import json, struct, sys
path, num_classes = sys.argv[1], int(sys.argv[2])
raw = open(path, 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert (8 + n) % 8 == 0, 'data not 8-byte aligned'
header = json.loads(raw[8:8 + n])
meta = header.pop('__metadata__', {})
assert meta.get('format') == 'pt', meta
expected = {}
def bn(p, c):
    for k in ('weight', 'bias', 'running_mean', 'running_var'):
        expected[p + '.' + k] = ('F32', [c])
    expected[p + '.num_batches_tracked'] = ('I64', [])
expected['conv1.weight'] = ('F32', [64, 3, 7, 7]); bn('bn1', 64)
inplanes = 64
for stage in range(4):
    planes = 64 << stage
    for b in range(2):
        p = 'layer%d.%d' % (stage + 1, b)
        cin = inplanes if b == 0 else planes
        expected[p + '.conv1.weight'] = ('F32', [planes, cin, 3, 3]); bn(p + '.bn1', planes)
        expected[p + '.conv2.weight'] = ('F32', [planes, planes, 3, 3]); bn(p + '.bn2', planes)
        if b == 0 and stage > 0:
            expected[p + '.downsample.0.weight'] = ('F32', [planes, inplanes, 1, 1])
            bn(p + '.downsample.1', planes)
    inplanes = planes
expected['fc.weight'] = ('F32', [num_classes, 512]); expected['fc.bias'] = ('F32', [num_classes])
got = {k: (v['dtype'], v['shape']) for k, v in header.items()}
missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
assert not missing and not extra, ('missing', missing[:5], 'unexpected', extra[:5])
for k, v in expected.items():
    assert got[k] == v, (k, got[k], v)
spans = sorted(tuple(v['data_offsets']) for v in header.values())
assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n, 'data region not covered'
for a, b in zip(spans, spans[1:]):
    assert a[1] == b[0], ('gap or overlap', a, b)
nbt = header['bn1.num_batches_tracked']['data_offsets'][0]
(batches,) = struct.unpack('<q', raw[8 + n + nbt: 8 + n + nbt + 8])
print('ok', len(header), batches)
)PY";

// Every model.* tensor of two checkpoints, bit for bit (`params_only`: batch-norm buffers skipped).
void check_same_model(const ft::optim::Checkpoint& a, const ft::optim::Checkpoint& b,
                      bool params_only) {
  std::size_t compared = 0;
  for (const auto& [name, rec] : a.tensors) {
    if (!name.starts_with("model.")) continue;
    if (params_only && (name.ends_with("running_mean") || name.ends_with("running_var") ||
                        name.ends_with("num_batches_tracked")))
      continue;
    CAPTURE(name);
    const auto it = b.tensors.find(name);
    REQUIRE(it != b.tensors.end());
    CHECK(it->second.shape == rec.shape);
    CHECK(it->second.data == rec.data);
    ++compared;
  }
  CHECK(compared >= 62);  // resnet18's parameters
}

}  // namespace

TEST_CASE("export writes torchvision's resnet18 state_dict; init_from reads it back exactly") {
  ft::testing::BinaryWorkspace ws("export-test");
  REQUIRE(ws.run("synth --out data/bhw1 --classes 4 --train 32 --test 8").code == 0);
  write_text(ws.dir / "a.toml", ft::testing::synth_config("a", "kind = \"resnet18\""));
  Result r = ws.run("run a.toml --quiet");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  r = ws.run("export runs/a --format safetensors");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const fs::path file = ws.dir / "runs/a/model.safetensors";
  REQUIRE(fs::is_regular_file(file));

  write_text(ws.dir / "reader.py", kReader);
  r = {};
  const std::string cmd =
      "python3 " + quote((ws.dir / "reader.py").string()) + " " + quote(file.string()) + " 4 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  std::string out;
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = ::pclose(p);
  CHECK_MESSAGE(status == 0, out);
  // 122 tensors; bn1 counted one batch per train step (24 train images / 16 = 2 steps)
  CHECK(out == "ok 122 2\n");

  // The file holds the checkpoint's model exactly (reader of the format in C++ too).
  const auto ckpt = ft::optim::load_checkpoint(ws.dir / "runs/a/checkpoints/last.ckpt");
  check_same_model(ckpt, ft::optim::safetensors_as_checkpoint(file), false);

  // init_from the .safetensors and from the .ckpt with lr 0: the weights stay what was loaded.
  for (const char* from : {"runs/a/model.safetensors", "runs/a/checkpoints/last.ckpt"}) {
    CAPTURE(from);
    write_text(ws.dir / "b.toml",
               ft::testing::synth_config(
                   "b", "kind = \"resnet18\"\ninit_from = \"" + std::string(from) + "\""));
    r = ws.run("run b.toml --quiet --overwrite --set optimizer.lr=0");
    REQUIRE_MESSAGE(r.code == 0, r.err);
    check_same_model(ckpt, ft::optim::load_checkpoint(ws.dir / "runs/b/checkpoints/last.ckpt"),
                     true);
  }

  // A truncated file is refused by name, before training.
  const std::string bytes = read_text(file);
  write_text(ws.dir / "cut.safetensors", bytes.substr(0, bytes.size() / 2));
  write_text(ws.dir / "c.toml", ft::testing::synth_config(
                                    "c", "kind = \"resnet18\"\ninit_from = \"cut.safetensors\""));
  r = ws.run("run c.toml --quiet");
  CHECK(r.code != 0);
  CHECK(r.err.find("cut.safetensors") != std::string::npos);
  CHECK(r.err.find("outside the") != std::string::npos);
  // A model of another architecture is refused naming what does not match.
  write_text(ws.dir / "d.toml",
             ft::testing::synth_config(
                 "d", "kind = \"resnet34\"\ninit_from = \"runs/a/model.safetensors\""));
  r = ws.run("run d.toml --quiet");
  CHECK(r.code != 0);
  CHECK(r.err.find("layer1.2") != std::string::npos);
  // export of a folder without a checkpoint: exit 2 naming the file.
  r = ws.run("export runs/nothing");
  CHECK(r.code == 2);
  CHECK(r.err.find("runs/nothing/checkpoints/last.ckpt") != std::string::npos);
}
